"""The stand-in Jira's theme switch: the issue page can be light or dark (`?theme=dark`, or the "Theme" menu, which
switches live), and the app's iframe follows it the way Jira's all.js does it: once the app calls
`AP.theming.initializeTheming()`, the host tells the iframe its colour mode and the shim sets `data-color-mode` and
`data-theme` on the iframe's <html>, again on every later switch. (Real Jira also injects its design tokens; the
panel's fallbacks stand in for them here.)"""

import html

THEMES = ("light", "dark")


def theme_of(value: str | None) -> str:
    return value if value in THEMES else "light"


def theme_switch(theme: str) -> str:
    options = "".join(f'<option value="{t}"{" selected" if t == theme else ""}>{t.title()}</option>' for t in THEMES)
    return f'<label>Theme <select name="theme" id="theme-switch">{options}</select></label>'


HOST_CSS = """
html[data-color-mode=dark] body{background:#161a1d;color:#b6c2cf}
html[data-color-mode=dark] header,html[data-color-mode=dark] .content,html[data-color-mode=dark] aside{
background:#1d2125;border-color:#a6c5e229}
html[data-color-mode=dark] a{color:#579dff}
.who+label{margin-left:12px}
"""

# Host side: answers the iframe's request for the theme, and pushes every switch to it (and into the address bar).
HOST_JS = """
(function () {
  var frame = document.getElementById("herochecklist-panel");
  var select = document.getElementById("theme-switch");
  var themed = false;
  function tell() {
    if (!themed) return;
    frame.contentWindow.postMessage({herochecklistAP: true, type: "theme", colorMode: select.value}, "*");
  }
  window.addEventListener("message", function (event) {
    if (event.source !== frame.contentWindow || !event.data || !event.data.herochecklistAP) return;
    if (event.data.type === "initializeTheming") { themed = true; tell(); }
  });
  select.addEventListener("change", function () {
    document.documentElement.setAttribute("data-color-mode", select.value);
    var url = new URL(location.href);
    url.searchParams.set("theme", select.value);
    history.replaceState(null, "", url);
    tell();
  });
})();
"""

# Appended to the AP shim (the iframe's all.js stand-in).
AP_THEMING = """
(function () {
  function apply(mode) {
    var root = document.documentElement;
    root.setAttribute("data-color-mode", mode);
    root.setAttribute("data-theme", "dark:dark light:light spacing:spacing typography:typography");
  }
  window.AP.theming = {
    initializeTheming: function () {
      window.addEventListener("message", function (event) {
        var msg = event.data;
        if (event.source !== window.parent || !msg || !msg.herochecklistAP || msg.type !== "theme") return;
        apply(msg.colorMode === "dark" ? "dark" : "light");
      });
      window.parent.postMessage({herochecklistAP: true, type: "initializeTheming"}, "*");
    }
  };
})();
"""


def host_attributes(theme: str) -> str:
    return f'data-color-mode="{html.escape(theme)}"'
