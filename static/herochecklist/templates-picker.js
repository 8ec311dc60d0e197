// The panel's template picker: a button that opens a small menu of the site's templates. Its state lives here, not in
// the DOM, so the panel can re-render under it (a write, a reload) without closing it or eating a click, the way a
// native <select> that was rebuilt on focus did. Applying to a checklist that has items asks first: append, replace
// or cancel. People who may manage templates (project or Jira admins, as the server says) can also save the
// checklist as a template; the server checks that again.

export function createTemplatePicker({ api, h, root, getState, write, rerender, announce, describe }) {
  const ui = { open: false, templates: null, loading: false, error: null, confirm: null, saving: false };

  const focus = (selector) => {
    const el = root.querySelector(selector);
    if (el) el.focus();
  };
  const update = (selector) => {
    rerender();
    if (selector) focus(selector);
  };

  async function toggle() {
    ui.open = !ui.open;
    ui.confirm = null;
    ui.saving = false;
    if (!ui.open) return update(".hc-template-toggle");
    // Read again on every opening (one small call): a template an admin just made shows up without a reload.
    if (!ui.loading) {
      ui.loading = true;
      update(".hc-template-toggle");
      try {
        // The site-wide ones and this project's: the server shows a project's only to who may browse it.
        const { projectId } = getState();
        const query = projectId ? `?projectId=${encodeURIComponent(projectId)}` : "";
        ui.templates = await api.request("GET", `/templates${query}`);
        ui.error = null;
      } catch (err) {
        ui.error = describe(err);
      }
      ui.loading = false;
    }
    update(".hc-template-menu button, .hc-template-toggle");
  }

  function close() {
    ui.open = false;
    ui.confirm = null;
    ui.saving = false;
    update(".hc-template-toggle");
  }

  function choose(template) {
    if (getState().items.length) {
      ui.confirm = template;
      return update(".hc-confirm [data-mode=cancel]");
    }
    return apply(template, "append");
  }

  async function apply(template, mode) {
    ui.confirm = null;
    ui.open = false;
    const verb = mode === "replace" ? "replaced the checklist" : "added";
    await write("POST", "/apply-template", { templateId: template.id, mode },
      { announceText: `Template ${template.name} ${verb}` });
    focus(".hc-template-toggle");
  }

  async function saveAs(name, keepProgress) {
    const state = getState();
    try {
      const progress = keepProgress ? "keep" : "reset";
      const text = await api.request("GET", `${state.base}/text?progress=${progress}`, null, { text: true });
      const body = { name, text };
      if (state.projectId) body.projectId = state.projectId;
      const created = await api.request("POST", "/templates", body);
      ui.templates = (ui.templates || []).concat([created]).sort((a, b) => a.name.localeCompare(b.name));
      ui.saving = false;
      ui.error = null;
      announce(`Saved as template ${created.name}`);
      update(".hc-template-menu button");
    } catch (err) {
      ui.error = describe(err);
      update(".hc-save-template input");
    }
  }

  function onKeydown(e) {
    if (e.key === "Escape" && ui.open) {
      e.preventDefault();
      e.stopPropagation();
      close();
    }
  }

  function renderMenu() {
    const state = getState();
    const parts = [];
    if (ui.loading) parts.push(h("p", { class: "hc-hint" }, "Loading templates…"));
    if (ui.error) parts.push(h("p", { class: "hc-error", role: "alert" }, ui.error));
    if (ui.confirm) {
      const t = ui.confirm;
      const n = state.items.length;
      parts.push(h("div", { class: "hc-confirm", role: "alertdialog", "aria-labelledby": "hc-confirm-text" },
        h("p", { id: "hc-confirm-text" },
          `This checklist already has ${n} item${n === 1 ? "" : "s"}. Add the items of “${t.name}” after them, `,
          "or replace them?"),
        h("div", { class: "hc-row" },
          h("button", { type: "button", class: "hc-primary", "data-mode": "append", onclick: () => apply(t, "append") },
            "Append"),
          h("button", { type: "button", "data-mode": "replace", onclick: () => apply(t, "replace") }, "Replace"),
          h("button", { type: "button", "data-mode": "cancel",
                        onclick: () => { ui.confirm = null; update(".hc-template-menu button"); } }, "Cancel"))));
      return parts;
    }
    if (ui.templates && !ui.templates.length) {
      parts.push(h("p", { class: "hc-hint" }, "No templates yet. ",
        state.canManageTemplates
          ? "Save this checklist as one below, or create them in the project settings (Checklist templates)."
          : "Project administrators create them in the project settings (Checklist templates)."));
    }
    if (ui.templates && ui.templates.length) {
      parts.push(h("ul", { class: "hc-template-list", role: "list" }, ui.templates.map((t) =>
        h("li", {}, h("button", { type: "button", class: "hc-template-choice", "data-template-id": t.id,
                                  onclick: () => choose(t) }, t.name)))));
    }
    if (state.canManageTemplates && state.items.length && ui.templates) parts.push(renderSaveAs());
    return parts;
  }

  function renderSaveAs() {
    if (!ui.saving) {
      return h("button", { type: "button", class: "hc-link hc-save-as",
        onclick: () => { ui.saving = true; update(".hc-save-template input"); } }, "Save this checklist as a template");
    }
    const input = h("input", { type: "text", maxlength: "200", required: true, "aria-label": "Template name" });
    // A template starts work afresh: by default every item is saved as to do, without its due date (a date
    // already set would be past, or wrong, on the issues it is applied to). Ticked, the statuses and dates stay.
    const keep = h("input", { type: "checkbox", class: "hc-keep-progress" });
    return h("form", { class: "hc-save-template", onsubmit: (e) => {
      e.preventDefault();
      const name = input.value.trim();
      if (name) saveAs(name, keep.checked);
    } }, input,
    h("label", { class: "hc-keep" }, keep, " Keep statuses and due dates"),
    h("button", { type: "submit", class: "hc-primary" }, "Save template"),
    h("button", { type: "button", onclick: () => { ui.saving = false; update(".hc-save-as"); } }, "Cancel"));
  }

  function render() {
    return h("div", { class: "hc-templates", onkeydown: onKeydown },
      h("button", { type: "button", class: "hc-template-toggle", "aria-expanded": ui.open ? "true" : "false",
                    "aria-controls": "hc-template-menu", "data-focus": "templates", onclick: toggle },
        "Templates", h("span", { "aria-hidden": "true" }, " ▾")),
      ui.open ? h("div", { id: "hc-template-menu", class: "hc-template-menu hc-popover", role: "group",
                           "aria-label": "Templates" }, renderMenu()) : null);
  }

  return { render };
}
