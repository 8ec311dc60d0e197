// The config page of a workflow rule in Jira's workflow editor: fills the form from the saved configuration and
// hands Jira the new one through AP's WorkflowConfiguration (checklists/workflow/views.py config_page).
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("herochecklist-workflow-config").textContent);
  var form = document.getElementById("hc-rule");
  var saved = data.saved || {};
  var sectionKey = saved.section || "";
  var status = document.getElementById("hc-rule-status");

  function field(name) { return form.elements.namedItem(name); }

  if (data.rule === "postfunction") {
    var select = field("templateId");
    data.templates.forEach(function (t) {
      var option = document.createElement("option");
      option.value = t.id;
      option.textContent = t.name;
      select.appendChild(option);
    });
    field("action").value = saved.action || "reset";
    select.value = saved.templateId || "";
    field("mode").value = saved.mode || "replace";
  } else {
    var radio = form.querySelector('input[name="mode"][value="' + (saved.mode || "required") + '"]');
    if (radio) radio.checked = true;
    field("sectionName").value = saved.sectionName || "";
    // The property names a header by a keyed hash our server computes (the key never reaches the browser).
    var pending = null;
    field("sectionName").addEventListener("input", function () {
      sectionKey = "";
      clearTimeout(pending);
      pending = setTimeout(function () {
        var header = field("sectionName").value;
        if (!header.trim()) return;
        fetch("/workflow/section-key", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ token: data.token, header: header })
        }).then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
          .then(function (body) { sectionKey = body.key; status.textContent = ""; })
          .catch(function () { status.textContent = "Could not check the header; try again."; });
      }, 250);
    });
  }
  if (form.dataset.readOnly) {
    Array.prototype.forEach.call(form.elements, function (e) { e.disabled = true; });
  }

  function config() {
    if (data.rule === "postfunction") {
      var c = { action: field("action").value };
      if (c.action === "apply-template") { c.templateId = field("templateId").value; c.mode = field("mode").value; }
      return c;
    }
    var mode = (form.querySelector('input[name="mode"]:checked') || {}).value || "required";
    if (mode === "section") return { mode: mode, section: sectionKey, sectionName: field("sectionName").value.trim() };
    return { mode: mode };
  }
  function valid() {
    var c = config();
    return c.mode !== "section" || (!!c.section && !!c.sectionName);
  }
  window.herochecklistRuleConfig = config; // what the stand-in's workflow editor reads
  if (window.AP && typeof window.AP.require === "function") {
    window.AP.require(["jira"], function (jira) {
      jira.WorkflowConfiguration.onSave(function () { return JSON.stringify(config()); });
      jira.WorkflowConfiguration.onSaveValidation(valid);
    });
  }
})();
