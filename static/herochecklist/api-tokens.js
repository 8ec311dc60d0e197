// The "API tokens" admin page: list, create (shown once) and revoke site API tokens through /api/v1/site-tokens.
// startTokensPage draws the page into `root` and calls the API with `request(method, path, body)`: on Connect a
// fetch with a fresh context token from the host (AP.context.getToken), in Forge requestRemote (forge/src/admin.js).

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  node.append(...children.filter((c) => c != null));
  return node;
}

export function startTokensPage(root, request) {
  const shown = el("p", { class: "hc-banner", role: "status", hidden: "" });
  const rows = el("tbody");
  const name = el("input", { name: "name", required: "", maxlength: "100", class: "hc-edit" });
  const scope = el("select", { name: "scope" }, el("option", { value: "read" }, "Read"),
    el("option", { value: "write" }, "Read and write"));

  function say(text) {
    shown.textContent = text;
    shown.hidden = false;
  }

  async function refresh() {
    const tokens = await request("GET", "/site-tokens");
    rows.replaceChildren(...tokens.map((t) => el("tr", { "data-id": t.id },
      el("td", {}, t.name), el("td", {}, `${t.prefix}…`), el("td", {}, t.scope === "write" ? "Read and write" : "Read"),
      el("td", {}, t.createdBy), el("td", {}, t.revokedAt ? `revoked ${t.revokedAt}` : t.lastUsedAt || "never"),
      el("td", {}, t.revokedAt ? null : el("button", { type: "button", "aria-label": `Revoke ${t.name}`,
        onclick: async () => { await request("DELETE", `/site-tokens/${t.id}`); shown.hidden = true; refresh(); } },
      "Revoke")))));
  }

  const form = el("form", { class: "hc-add", onsubmit: async (event) => {
    event.preventDefault();
    try {
      const created = await request("POST", "/site-tokens", { name: name.value, scope: scope.value });
      say(`Copy this token now, it is not shown again: ${created.token}`);
      form.reset();
    } catch (err) {
      const fields = Object.entries((err.body && err.body.fields) || {}).map(([f, why]) => `${f} ${why}`);
      say(`Not created: ${fields.join("; ") || err.message}`);
    }
    refresh();
  } }, el("label", {}, "Name ", name), el("label", {}, " Scope ", scope),
  el("button", { type: "submit", class: "hc-primary" }, "Create token"));

  root.replaceChildren(form, shown, el("table", { class: "hc-tokens" },
    el("thead", {}, el("tr", {}, ...["Name", "Token", "Scope", "Created by", "Last use", ""].map((h) => el("th", {}, h)))),
    rows));
  return refresh();
}

// On our Connect page (templates/checklists/api_tokens.html): the page's config, and the host's context tokens.
const config = document.getElementById("herochecklist-config");
if (config && window.AP) {
  const apiBase = JSON.parse(config.textContent).apiBase;
  startTokensPage(document.getElementById("hc-tokens"), async (method, path, body) => {
    const headers = { Authorization: `JWT ${await window.AP.context.getToken()}`, Accept: "application/json" };
    if (body) headers["Content-Type"] = "application/json";
    const response = await fetch(apiBase + path, {
      method, headers, body: body ? JSON.stringify(body) : undefined, credentials: "omit",
    });
    const data = await response.json();
    if (!response.ok) throw Object.assign(new Error(data.detail || data.error), { body: data });
    return data;
  });
}
