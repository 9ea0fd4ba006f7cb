// Live updates: when the inbox changes (server-sent events from
// /v1/inbox/events), re-fetch this page and swap the #live region, keeping
// whatever the manager is typing elsewhere on the page.
(function () {
  var live = document.getElementById('live');
  if (!live || !window.EventSource) return;
  var pending = false, again = false;
  function refresh() {
    // An event during a fetch must not be lost: fetch once more afterwards.
    if (pending) { again = true; return; }
    pending = true;
    fetch(window.location.href, { credentials: 'same-origin' })
      .then(function (r) { return r.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, 'text/html');
        var fresh = doc.getElementById('live');
        if (fresh) { live.innerHTML = fresh.innerHTML; live.setAttribute('data-updated', String(Date.now())); }
      })
      .finally(function () { pending = false; if (again) { again = false; refresh(); } });
  }
  var es = new EventSource('/v1/inbox/events');
  es.addEventListener('inbox', refresh);
})();
// Canned replies fill the reply box.
(function () {
  var sel = document.getElementById('canned');
  var box = document.getElementById('reply-text');
  if (!sel || !box) return;
  sel.addEventListener('change', function () { if (sel.value) { box.value = sel.value; box.focus(); } });
})();
