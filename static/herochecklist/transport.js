// How the panel reaches /api/v1. In Jira (Connect) it sends the panel token, and on a 401 swaps it for a fresh
// context token from the host page (AP.context.getToken). A Forge host can supply its own `send` instead.
// onTiming(seconds, failed), when given, hears how long each call took as the browser saw it (timing.js); failed is
// a network error or a 5xx.

export class ApiError extends Error {
  constructor(status, body) {
    super(`HTTP ${status}`);
    this.status = status;
    this.body = body;
    this.fields = body && body.fields;
  }
}

// The API names each bad field with a predicate ({"items": "cannot exceed 500 in one checklist"}); a person reads
// the field in words, the sentence starting with a capital: "Items cannot exceed 500 in one checklist". A line of
// the text format ("line 3") reads "Line 3: ...".
const FIELD_WORDS = { templateId: "template", itemIds: "order", assigneeAccountId: "assignee", isHeader: "header",
                      body: "text", projectId: "project", issueTypeId: "issue type" };
export function fieldsInWords(fields) {
  return Object.entries(fields).map(([field, why]) => {
    if (/^line \d+$/.test(field)) return `Line ${field.slice(5)}: ${why}`;
    const words = FIELD_WORDS[field] || field.replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase();
    return `${words.charAt(0).toUpperCase()}${words.slice(1)} ${why}`;
  }).join("; ");
}

export function createTransport({ apiBase, token, host, send, onTiming }) {
  let authorization = `Bearer ${token}`;

  async function refresh() {
    if (!host || !host.context || typeof host.context.getToken !== "function") return false;
    const context = await host.context.getToken();
    if (!context) return false;
    authorization = `JWT ${context}`;
    return true;
  }

  async function once(method, path, body, options) {
    const headers = { Authorization: authorization, Accept: "application/json" };
    let payload;
    if (body != null) {
      payload = typeof body === "string" ? body : JSON.stringify(body);
      headers["Content-Type"] = typeof body === "string" ? "text/plain; charset=utf-8" : "application/json";
    }
    if (options.ifMatch != null && method !== "GET") headers["If-Match"] = `"${options.ifMatch}"`;
    if (options.ifNoneMatch != null) headers["If-None-Match"] = `"${options.ifNoneMatch}"`; // live.js polls
    if (send) return send({ method, path: apiBase + path, headers, body: payload });
    return fetch(apiBase + path, { method, headers, body: payload, credentials: "omit" });
  }

  async function request(method, path, body = null, options = {}) {
    const started = performance.now();
    let failed = false;
    try {
      return await exchange(method, path, body, options);
    } catch (err) {
      failed = !(err instanceof ApiError) || err.status >= 500;
      throw err;
    } finally {
      if (onTiming && !options.untimed) onTiming((performance.now() - started) / 1000, failed);
    }
  }

  async function exchange(method, path, body, options) {
    let response = await once(method, path, body, options);
    if (response.status === 401 && (await refresh())) response = await once(method, path, body, options);
    const etag = response.headers.get("ETag");
    const version = etag ? Number(etag.replace(/[W/"]/g, "")) : null;
    if (response.status === 304) return options.full ? { data: null, version } : null; // unchanged
    if (!response.ok) {
      let errorBody;
      try { errorBody = await response.json(); } catch (e) { errorBody = null; } // not JSON: a proxy's page
      throw new ApiError(response.status, errorBody);
    }
    let data = null;
    if (response.status !== 204) data = options.text ? await response.text() : await response.json();
    return options.full ? { data, version } : data;
  }

  // The credential in use, as an Authorization header value (the timing beacon carries it in its body).
  return { request, credential: () => authorization };
}
