// The "API tokens" admin page: list, create (shown once) and revoke site API tokens through /api/v1/site-tokens,
// with a fresh Connect context token from the host page for every call (AP.context.getToken).
const config = JSON.parse(document.getElementById("herochecklist-config").textContent);
const rows = document.getElementById("hc-token-rows");
const shown = document.getElementById("hc-token-new");

async function call(method, path, body) {
  const token = await window.AP.context.getToken();
  const headers = { Authorization: `JWT ${token}`, Accept: "application/json" };
  if (body) headers["Content-Type"] = "application/json";
  const response = await fetch(config.apiBase + path, {
    method, headers, body: body ? JSON.stringify(body) : undefined, credentials: "omit",
  });
  const data = await response.json();
  if (!response.ok) throw new Error(Object.values(data.fields || {}).join("; ") || data.detail || data.error);
  return data;
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text == null ? "" : String(text);
  return td;
}

async function refresh() {
  const tokens = await call("GET", "/site-tokens");
  rows.replaceChildren(...tokens.map((t) => {
    const tr = document.createElement("tr");
    tr.dataset.id = t.id;
    tr.append(cell(t.name), cell(t.prefix + "…"), cell(t.scope === "write" ? "Read and write" : "Read"),
      cell(t.createdBy), cell(t.revokedAt ? `revoked ${t.revokedAt}` : t.lastUsedAt || "never"));
    const actions = document.createElement("td");
    if (!t.revokedAt) {
      const revoke = document.createElement("button");
      revoke.type = "button";
      revoke.textContent = "Revoke";
      revoke.setAttribute("aria-label", `Revoke ${t.name}`);
      revoke.onclick = async () => { await call("DELETE", `/site-tokens/${t.id}`); shown.hidden = true; refresh(); };
      actions.append(revoke);
    }
    tr.append(actions);
    return tr;
  }));
}

document.getElementById("hc-token-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  try {
    const created = await call("POST", "/site-tokens", { name: form.get("name"), scope: form.get("scope") });
    shown.textContent = `Copy this token now, it is not shown again: ${created.token}`;
    shown.hidden = false;
    event.target.reset();
  } catch (err) {
    shown.textContent = `Not created: ${err.message}`;
    shown.hidden = false;
  }
  refresh();
});

refresh();
