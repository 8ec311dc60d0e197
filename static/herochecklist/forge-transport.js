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
