// Signing in for the web pages (the managers' dashboard, the customers' and the experts'
// pages). The access and refresh tokens live in this tab's session storage; every API call
// sends the access token, an expired one is renewed with the refresh token, and without a
// session the page asks for an e-mail address and password in its `#signin` dialog. A page
// that lets customers sign up marks the dialog's form `data-action="register"` while it is
// in that mode: the form's fields then go to `/api/auth/register` instead.
'use strict';

const Session = (() => {
  const KEY = 'sysops.session';

  const load = () => {
    try { return JSON.parse(sessionStorage.getItem(KEY)); } catch { return null; }
  };
  const save = (s) => sessionStorage.setItem(KEY, JSON.stringify(s));
  const clear = () => sessionStorage.removeItem(KEY);

  // A token handed over in the address (`#token=...`, never sent to a server) is kept and
  // taken out of the address.
  const handed = location.hash.match(/[#&]token=([^&]+)/);
  if (handed) {
    save({ access_token: decodeURIComponent(handed[1]) });
    history.replaceState(null, '', location.pathname + location.search);
  }

  async function post(path, body) {
    const response = await fetch(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(body),
    });
    return { response, body: await response.json().catch(() => ({})) };
  }

  // One renewal at a time. A refresh token is spent once (presented again, the gateway takes it
  // for a copy and ends the session), so requests that met an expired token together wait for
  // the same renewal, and one that holds a session renewed meanwhile takes the new one.
  let renewing = null;
  function renew(session) {
    if (!session || !session.refresh_token) return Promise.resolve(null);
    const current = load();
    if (current && current.refresh_token !== session.refresh_token) return Promise.resolve(current);
    if (!renewing) {
      renewing = (async () => {
        const { response, body } = await post('/api/auth/refresh', { refresh_token: session.refresh_token });
        if (!response.ok) return null;
        save(body);
        return body;
      })().finally(() => { renewing = null; });
    }
    return renewing;
  }

  // One sign-in form at a time; every caller waiting for a session gets the same one.
  let signingIn = null;
  function signIn(message) {
    if (signingIn) return signingIn;
    signingIn = new Promise((resolve) => {
      const dialog = document.getElementById('signin');
      const form = dialog.querySelector('form');
      const note = dialog.querySelector('.message');
      note.textContent = message;
      form.onsubmit = async (event) => {
        event.preventDefault();
        const fields = Object.fromEntries(new FormData(form));
        const registering = form.dataset.action === 'register';
        // Only the fields the endpoint takes: it refuses any other.
        const credentials = { email: fields.email, password: fields.password };
        if (registering && fields.name && fields.name.trim()) credentials.name = fields.name.trim();
        note.textContent = '';
        const { response, body } = await post(registering ? '/api/auth/register' : '/api/auth/login', credentials)
          .catch(() => ({ response: { ok: false, status: 0 }, body: { error: 'the server cannot be reached; try again' } }));
        if (!response.ok) {
          note.textContent = body.error || `could not sign in (HTTP ${response.status})`;
          return;
        }
        save(body);
        form.reset();
        signingIn = null;
        dialog.close();
        resolve(body);
      };
      // Escape closes a modal dialog; the page cannot go on without a session, so it stays.
      dialog.onclose = () => { if (signingIn) dialog.showModal(); };
      dialog.showModal();
    });
    return signingIn;
  }

  // `fetch` with the caller's token; signs in or renews as needed.
  async function authorizedFetch(url, init = {}) {
    let session = load();
    for (let attempt = 0; attempt < 3; attempt += 1) {
      if (!session) session = await signIn(attempt ? 'Your session ended; sign in again.' : 'Sign in to continue.');
      const headers = { ...(init.headers || {}), authorization: `Bearer ${session.access_token}` };
      const response = await fetch(url, { ...init, headers });
      if (response.status !== 401) return response;
      session = await renew(session);
      if (!session) clear();
    }
    throw new Error('not signed in');
  }

  async function signOut() {
    const session = load();
    clear();
    if (session) {
      await fetch('/api/auth/logout', { method: 'POST', headers: { authorization: `Bearer ${session.access_token}` } })
        .catch(() => {});
    }
    location.reload();
  }

  // Downloads `url` with the caller's token under the name `filename`.
  async function download(url, filename) {
    const response = await authorizedFetch(url);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const link = document.createElement('a');
    link.href = URL.createObjectURL(await response.blob());
    link.download = filename;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  }

  return { fetch: authorizedFetch, signOut, download, user: () => (load() || {}).user };
})();
