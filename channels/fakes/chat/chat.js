// The customer chat pages of the provider fakes. A button press or a reply
// posts to the fakes' control API (/{channel}/press, /{channel}/text) as
// JSON, the one way customers are played; the conversation then refreshes.
(function () {
  'use strict';
  const thread = document.getElementById('thread');
  if (!thread) return;
  const status = document.getElementById('status');
  const ch = thread.dataset.channel, user = thread.dataset.user;

  async function act(action, body) {
    body.user = user;
    status.textContent = 'Sending…';
    try {
      const r = await fetch('/' + encodeURIComponent(ch) + '/' + action, {
        method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)});
      const j = await r.json();
      status.textContent = r.ok ? 'Nudge answered ' + j.status : 'Not sent: ' + j.error;
      status.className = r.ok && j.status < 300 ? 'ok' : 'error';
    } catch (e) {
      status.textContent = 'Not sent: ' + e;
      status.className = 'error';
    }
    await refresh();
  }

  async function refresh() {
    try {
      const r = await fetch(location.href, {cache: 'no-store'});
      const doc = new DOMParser().parseFromString(await r.text(), 'text/html');
      const next = doc.getElementById('thread');
      if (next && next.innerHTML !== thread.innerHTML) {
        const atEnd = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
        thread.innerHTML = next.innerHTML;
        if (atEnd) window.scrollTo(0, document.body.scrollHeight);
      }
    } catch (e) { /* the fakes stopped; the page keeps what it shows */ }
  }

  thread.addEventListener('click', function (e) {
    const b = e.target.closest('button[data-press]');
    if (b) act('press', {data: b.dataset.press, message_id: b.dataset.message});
  });
  const form = document.getElementById('reply');
  if (form) {
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      const input = document.getElementById('reply-text');
      const text = input.value.trim();
      if (!text) return;
      input.value = '';
      act('text', {text: text});
    });
  }
  window.scrollTo(0, document.body.scrollHeight);
  setInterval(refresh, 2000);
})();
