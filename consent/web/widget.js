/* Nudge opt-in widget. Embed with
 *   <script src="https://NUDGE/widget.js" async
 *           data-topics="service,marketing" data-lang="ru"
 *           data-target="nudge-box"></script>
 * It asks Nudge for an opt-in code (carrying this page's utm_* and ref for
 * attribution) and renders one button per connected messenger. No other
 * requests, no cookies, no third-party code. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !window.fetch || !window.URLSearchParams) { return; }
  var attr = function (name) { return script.getAttribute("data-" + name) || ""; };
  var base = attr("base") || new URL(script.src, location.href).origin;
  var box = document.createElement("div");
  box.className = "nudge-widget";
  var target = attr("target") && document.getElementById(attr("target"));
  if (target) { target.appendChild(box); } else { script.parentNode.insertBefore(box, script.nextSibling); }

  var query = new URLSearchParams(location.search);
  var body = new URLSearchParams();
  ["utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term", "ref"].forEach(function (k) {
    var v = query.get(k) || attr(k.replace("_", "-"));
    if (v) { body.set(k, v.slice(0, 256)); }
  });
  body.set("landing", location.origin + location.pathname);
  if (attr("topics")) { body.set("topics", attr("topics")); }
  body.set("lang", attr("lang") || document.documentElement.lang || navigator.language || "");

  var colors = { telegram: "#229ed9", viber: "#7360f2", whatsapp: "#25d366", messenger: "#0084ff", vk: "#0077ff" };
  function render(res) {
    var title = document.createElement("p");
    title.textContent = res.title;
    title.style.fontWeight = "600";
    box.appendChild(title);
    (res.links || []).forEach(function (l) {
      var a = document.createElement("a");
      a.href = l.url;
      a.textContent = l.text;
      a.rel = "noopener";
      a.target = "_blank";
      a.className = "nudge-btn nudge-" + l.channel;
      a.style.cssText = "display:block;margin:6px 0;padding:10px 14px;border-radius:8px;color:#fff;text-decoration:none;text-align:center;font:600 15px system-ui,sans-serif;background:" + (colors[l.channel] || "#444");
      box.appendChild(a);
    });
    var note = document.createElement("small");
    note.textContent = res.consent;
    note.style.cssText = "display:block;color:#5c6370;margin-top:6px;font:12px system-ui,sans-serif";
    box.appendChild(note);
  }
  fetch(base + "/widget/code", { method: "POST", body: body, credentials: "omit", mode: "cors" })
    .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
    .then(render)
    .catch(function () { box.parentNode && box.parentNode.removeChild(box); });
})();
