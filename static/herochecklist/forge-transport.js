// The panel's way to our API inside Forge Custom UI: @forge/bridge's requestRemote to the remote declared in
// forge/manifest.yml. Forge adds the Forge Invocation Token (FIT) as the Authorization header itself, so ours is
// dropped; the FIT names the site, the user and the issue, and the backend trusts nothing else.

export const REMOTE_KEY = "herochecklist";

export function forgeSend(requestRemote, remoteKey = REMOTE_KEY) {
  return async ({ method, path, headers, body }) => {
    const forwarded = {};
    for (const [name, value] of Object.entries(headers || {})) {
      if (name.toLowerCase() !== "authorization") forwarded[name] = value;
    }
    const init = { method, path, headers: forwarded };
    if (body != null) init.body = body;
    return requestRemote(remoteKey, init);
  };
}

// The Forge panel's timing reports (timing.js): the same endpoint and numbers as the Connect beacon, through
// requestRemote, so the FIT authenticates them. A failed report is dropped: it is only monitoring.
export const TIMING_PATH = "/telemetry/client-timings";

export function forgeTimingSend(requestRemote, remoteKey = REMOTE_KEY) {
  return (numbers) => {
    const init = {
      method: "POST",
      path: TIMING_PATH,
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(numbers),
    };
    Promise.resolve(requestRemote(remoteKey, init)).catch(() => {});
  };
}

// Jira REST reads for people.js (user search, names and avatars): @forge/bridge's requestJira, which Forge runs as
// the current user, so the picker finds whom that user may see and nothing passes through our backend.
export function forgeJira(requestJira) {
  return async (path) => {
    const response = await requestJira(path, { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`Jira answered ${response.status}`);
    return response.json();
  };
}
