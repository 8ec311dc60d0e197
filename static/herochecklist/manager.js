// The template manager: one page for a project's settings (projectId set) and for the site's admin page. It lists the
// templates in reach (site-wide and, on a project's page, that project's), edits them in the same text format as the
// panel's text mode, sets their scope and auto-apply, and on the site's page manages the site's own statuses. What
// it offers follows `permissions` from GET /manager; the server checks every change again with Jira.

import { ApiError, fieldsInWords } from "./transport.js";
import { h } from "./dom.js";

const TEXT_HELP = "One line each: ## header, - [ ] to do, - [~] in progress, - [x] done, - [-] skipped, - [!] blocked, " +
  "- [key] a status of this site; [ ]? marks an optional item.";

export function startManager({ api, projectId = "", resize = () => {} }) {
  const root = document.getElementById("app");
  const ui = { templates: [], statuses: [], permissions: {}, types: {}, editing: null, moving: null, error: null,
               fields: {}, loaded: false };

  const canEdit = (t) => ui.permissions.manageSite ||
    (ui.permissions.manageProject && !!t.projectId && t.projectId === projectId);
  const canCreate = () => ui.permissions.manageSite || ui.permissions.manageProject;

  async function load() {
    try {
      const data = await api.request("GET", "/manager" + (projectId ? `?projectId=${encodeURIComponent(projectId)}` : ""));
      Object.assign(ui, { templates: data.templates, statuses: data.statuses, permissions: data.permissions,
                          types: data.issueTypes || {} });
      ui.loaded = true;
      ui.error = null;
    } catch (err) {
      ui.error = describe(err);
    }
    render();
  }

  function describe(err) {
    if (err instanceof ApiError) {
      if (err.status === 401) return "Your session expired. Reload the page to continue.";
      if (err.status === 403) return (err.body && err.body.detail) || "Jira does not let you change this.";
      if (err.fields) return fieldsInWords(err.fields);
      return `The server answered ${err.status}. Nothing was changed.`;
    }
    return "Could not reach HeroChecklist. Try again.";
  }

  // Runs a change; on success reloads the page's data (one call), on failure keeps the form and says why.
  async function change(run, message, focusSelector) {
    try {
      await run();
      ui.editing = null;
      ui.moving = null;
      ui.fields = {};
      await load();
      announce(message);
      if (focusSelector) root.querySelector(focusSelector)?.focus();
      return true;
    } catch (err) {
      ui.error = describe(err);
      ui.fields = (err instanceof ApiError && err.fields) || {};
      render();
      root.querySelector(".hc-error")?.focus();
      return false;
    }
  }

  const live = h("div", { class: "hc-sr", role: "status", "aria-live": "polite" });
  function announce(text) {
    live.textContent = text || "";
  }

  // --- templates ----------------------------------------------------------------------------------------------
  function scopeLabel(t) {
    const where = t.projectId ? (t.projectId === projectId ? "This project" : `Project ${t.projectId}`) : "Every project";
    return t.issueTypeId ? `${where}, issue type ${typeName(t.issueTypeId)}` : where;
  }

  // Jira's name for an issue type id; the id itself when Jira did not say (down, or a type it no longer has).
  const typeName = (id) => ui.types[id] || id;

  function renderTemplates() {
    const rows = ui.templates.map((t) => h("tr", { "data-template": t.name },
      h("td", {}, t.name), h("td", {}, scopeLabel(t)), h("td", {}, t.autoApply ? "Yes" : "No"),
      h("td", {}, canEdit(t) ? h("span", { class: "hc-row" },
        h("button", { type: "button", "aria-label": `Edit ${t.name}`, onclick: () => edit(t) }, "Edit"),
        h("button", { type: "button", "aria-label": `Delete ${t.name}`, onclick: () => removeTemplate(t) }, "Delete"))
        : "")));
    return [
      h("h2", {}, "Templates"),
      ui.templates.length
        ? h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Applies to"),
            h("th", {}, "Auto-apply"), h("th", {}, h("span", { class: "hc-sr" }, "Actions")))), h("tbody", {}, rows))
        : h("p", { class: "hc-hint" }, "No templates yet."),
      canCreate() && !ui.editing
        ? h("button", { type: "button", class: "hc-primary hc-new-template", onclick: () => edit(null) }, "New template")
        : null,
      ui.editing ? renderEditor() : null,
    ];
  }

  function edit(template) {
    ui.editing = template || { name: "", text: "", projectId: projectId || null, issueTypeId: null, autoApply: false,
                                isNew: true };
    ui.fields = {};
    ui.error = null;
    render();
    root.querySelector(".hc-editor input[name=name]")?.focus();
  }

  function fieldError(name) {
    const why = Object.entries(ui.fields).find(([f]) => f === name || f.startsWith(name + " "));
    return why ? h("span", { class: "hc-error", id: `hc-err-${name}` }, `${why[0]} ${why[1]}`) : null;
  }

  function renderEditor() {
    const t = ui.editing;
    const siteWide = !t.projectId;
    const name = h("input", { type: "text", name: "name", maxlength: "200", value: t.name, required: true,
                              id: "hc-name" });
    const text = h("textarea", { name: "text", rows: "10", spellcheck: "false", id: "hc-text",
                                 "aria-describedby": "hc-text-help" });
    text.value = t.text;
    const scope = projectId
      ? [radio("scope", "site", "Every project", siteWide, !ui.permissions.manageSite),
         radio("scope", "project", "This project", !siteWide, false)]
      : [radio("scope", "site", "Every project", siteWide, false),
         radio("scope", "project", "One project, id:", !siteWide, false),
         h("input", { type: "text", name: "projectId", inputmode: "numeric", value: t.projectId || "",
                      "aria-label": "Project id", size: "8" })];
    // A choice by name when Jira named the site's issue types (the template's own kept even if Jira has it no more),
    // else the id typed in.
    const ids = Object.keys(ui.types);
    const named = ids.length > 0;
    if (t.issueTypeId && !ids.includes(t.issueTypeId)) ids.push(t.issueTypeId);
    const issueType = named
      ? h("select", { name: "issueTypeId", id: "hc-type" }, h("option", { value: "" }, "Any issue type"),
          ids.map((id) => h("option", { value: id, selected: id === t.issueTypeId }, typeName(id))))
      : h("input", { type: "text", name: "issueTypeId", inputmode: "numeric", id: "hc-type",
                     value: t.issueTypeId || "" });
    const auto = h("input", { type: "checkbox", name: "autoApply", id: "hc-auto", checked: t.autoApply });
    const form = h("form", { class: "hc-editor", "aria-label": t.isNew ? "New template" : `Edit ${t.name}`,
      onsubmit: (e) => { e.preventDefault(); saveTemplate(t, new FormData(form)); } },
      h("h3", {}, t.isNew ? "New template" : `Edit “${t.name}”`),
      h("label", { for: "hc-name" }, "Name"), name, fieldError("name"),
      h("label", { for: "hc-text" }, "Items, in the checklist text format"), text,
      h("p", { class: "hc-hint", id: "hc-text-help" }, TEXT_HELP), fieldError("text"),
      h("fieldset", {}, h("legend", {}, "Applies to"), scope), fieldError("projectId"),
      h("label", { for: "hc-type" }, named ? "Only issues of type (optional)"
        : "Only issues of type (issue type id, optional)"), issueType,
      fieldError("issueTypeId"),
      h("p", {}, auto, " ", h("label", { for: "hc-auto", style: "display:inline" },
        "Apply automatically when an issue's checklist is first opened")),
      h("div", { class: "hc-row" }, h("button", { type: "submit", class: "hc-primary" }, "Save template"),
        h("button", { type: "button", onclick: () => { ui.editing = null; ui.fields = {}; render(); } }, "Cancel")));
    return form;
  }

  function radio(name, value, label, checked, disabled) {
    const id = `hc-${name}-${value}`;
    return h("span", {}, h("input", { type: "radio", name, value, id, checked, disabled }),
      " ", h("label", { for: id }, label));
  }

  function saveTemplate(t, data) {
    const project = data.get("scope") === "site" ? null : (projectId || (data.get("projectId") || "").trim() || null);
    const body = {
      name: String(data.get("name") || ""),
      text: String(data.get("text") || ""),
      projectId: project,
      issueTypeId: (data.get("issueTypeId") || "").trim() || null,
      autoApply: data.get("autoApply") === "on",
    };
    if (t.isNew) {
      if (!body.projectId) delete body.projectId;
      if (!body.issueTypeId) delete body.issueTypeId;
      return change(() => api.request("POST", "/templates", body), `Template ${body.name} created`, ".hc-new-template");
    }
    return change(() => api.request("PATCH", `/templates/${encodeURIComponent(t.id)}`, body),
      `Template ${body.name} saved`, ".hc-new-template");
  }

  function removeTemplate(t) {
    if (!window.confirm(`Delete the template “${t.name}”? Checklists it was applied to keep their items.`)) return;
    change(() => api.request("DELETE", `/templates/${encodeURIComponent(t.id)}`), `Template ${t.name} deleted`,
      ".hc-new-template");
  }

  // --- statuses (the site's own; Jira admins change them) --------------------------------------------------------
  function renderStatuses() {
    const admin = ui.permissions.manageSite;
    if (projectId && !ui.statuses.length) return [];
    const rows = ui.statuses.map((s) => h("tr", { "data-status": s.key },
      h("td", {}, admin ? renderStatusEdit(s)
        : [h("span", { class: "hc-swatch", style: `background:${s.color}` }), " ", s.name]),
      h("td", {}, h("code", {}, `[${s.key}]`)),
      h("td", {}, admin ? h("input", { type: "checkbox", checked: s.countsAsDone,
        "aria-label": `${s.name} counts as done`,
        onchange: (e) => change(() => api.request("PATCH", `/statuses/${s.key}`, { countsAsDone: e.target.checked }),
          `${s.name} ${e.target.checked ? "counts" : "no longer counts"} as done`) })
        : (s.countsAsDone ? "Yes" : "No")),
      h("td", {}, admin ? h("button", { type: "button", "aria-label": `Remove ${s.name}`,
        onclick: () => removeStatus(s) }, "Remove") : "")));
    return [
      h("h2", {}, "Statuses of this site"),
      h("p", { class: "hc-hint" }, "Beside To do, In progress, Done, Skipped and Blocked. In text mode an item with ",
        "one of these is written with its key in the box, e.g. - [review] check the diff."),
      ui.statuses.length ? h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Key"),
        h("th", {}, "Counts as done"), h("th", {}, h("span", { class: "hc-sr" }, "Actions")))), h("tbody", {}, rows))
        : h("p", { class: "hc-hint" }, "None yet."),
      ui.moving ? renderMove() : null,
      admin ? renderAddStatus() : null,
    ];
  }

  // Name and colour of a status, changed in place (its key stays: items and texts hold it).
  function renderStatusEdit(s) {
    const name = h("input", { type: "text", value: s.name, maxlength: "50", "aria-label": `Name of ${s.name}` });
    const color = h("input", { type: "color", value: s.color, "aria-label": `Colour of ${s.name}` });
    return h("form", { class: "hc-row", onsubmit: (e) => {
      e.preventDefault();
      change(() => api.request("PATCH", `/statuses/${s.key}`, { name: name.value, color: color.value }),
        `Status ${name.value} saved`);
    } }, color, name, h("button", { type: "submit", "aria-label": `Save ${s.name}` }, "Save"));
  }

  function renderAddStatus() {
    const form = h("form", { class: "hc-add-status", "aria-label": "Add a status", onsubmit: (e) => {
      e.preventDefault();
      const data = new FormData(form);
      const body = { name: String(data.get("name") || ""), color: String(data.get("color")),
                     countsAsDone: data.get("countsAsDone") === "on" };
      const key = String(data.get("key") || "").trim();
      if (key) body.key = key;
      change(() => api.request("POST", "/statuses", body), `Status ${body.name} added`, ".hc-add-status input");
    } },
    h("h3", {}, "Add a status"),
    h("div", { class: "hc-row" },
      h("label", { for: "hc-status-name" }, "Name"),
      h("input", { type: "text", name: "name", id: "hc-status-name", maxlength: "50", required: true }),
      h("label", { for: "hc-status-key" }, "Key (optional)"),
      h("input", { type: "text", name: "key", id: "hc-status-key", maxlength: "16", size: "10" }),
      h("label", { for: "hc-status-color" }, "Colour"),
      h("input", { type: "color", name: "color", id: "hc-status-color", value: "#6554c0" }),
      h("input", { type: "checkbox", name: "countsAsDone", id: "hc-status-done" }),
      h("label", { for: "hc-status-done" }, "Counts as done"),
      h("button", { type: "submit", class: "hc-primary" }, "Add status")));
    return form;
  }

  async function removeStatus(s, moveTo) {
    const query = moveTo ? `?moveTo=${encodeURIComponent(moveTo)}` : "";
    try {
      await api.request("DELETE", `/statuses/${s.key}${query}`);
      ui.moving = null;
      await load();
      announce(`Status ${s.name} removed`);
    } catch (err) {
      if (err instanceof ApiError && err.status === 409 && err.body && err.body.inUse != null) {
        ui.moving = { status: s, inUse: err.body.inUse, templates: err.body.templates || 0 };
        ui.error = null;
        render();
        root.querySelector(".hc-move-status select")?.focus();
        return;
      }
      ui.error = describe(err);
      render();
    }
  }

  function renderMove() {
    const { status, inUse, templates } = ui.moving;
    const choices = [["todo", "To do"], ["in_progress", "In progress"], ["done", "Done"], ["skipped", "Skipped"],
      ["blocked", "Blocked"], ...ui.statuses.filter((s) => s.key !== status.key).map((s) => [s.key, s.name])];
    const select = h("select", { name: "moveTo", id: "hc-move-to" },
      choices.map(([key, name]) => h("option", { value: key }, name)));
    const what = `${inUse} item${inUse === 1 ? "" : "s"}` + (templates ? ` and ${templates} template(s)` : "");
    return h("form", { class: "hc-move-status", role: "alertdialog", "aria-labelledby": "hc-move-text",
      onsubmit: (e) => { e.preventDefault(); removeStatus(status, select.value); } },
      h("p", { id: "hc-move-text" }, `${what} have the status ${status.name}. Where should they go?`),
      h("div", { class: "hc-row" }, h("label", { for: "hc-move-to" }, "Move them to"), select,
        h("button", { type: "submit", class: "hc-primary" }, `Move and remove ${status.name}`),
        h("button", { type: "button", onclick: () => { ui.moving = null; render(); } }, "Cancel")));
  }

  // --- page -------------------------------------------------------------------------------------------------------
  function render() {
    const readOnly = ui.loaded && !canCreate();
    root.replaceChildren(...[
      live,
      h("h1", {}, projectId ? "Checklist templates of this project" : "Checklist templates and statuses"),
      ui.error ? h("div", { class: "hc-banner hc-error", role: "alert", tabindex: "-1" }, ui.error) : null,
      readOnly ? h("p", { class: "hc-readonly", role: "note" }, "You can view these templates and apply them in ",
        "issues, but not change them: project administrators manage a project's templates, Jira administrators the ",
        "site-wide ones and the statuses.") : null,
      ...(ui.loaded ? [...renderTemplates(), ...renderStatuses()] : []),
    ].filter(Boolean));
    resize(document.body.scrollHeight); // not the document's: it never falls below the iframe's height (panel.js)
  }

  load();
}
