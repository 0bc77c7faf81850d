// The customers' page: sign up or sign in, report a problem, follow every ticket (status,
// category, expert, history) as it moves, cancel it while it is open, close it once resolved.
'use strict';

(() => {
  const { el, api, problem } = UI;
  const $ = (id) => document.getElementById(id);
  const REFRESH_MS = 4000;
  const PAGE = 20;
  const CANCELLABLE = ['new', 'categorized', 'needs_review', 'queued', 'assigned', 'accepted', 'rejected'];
  // The ticket's fields on the form, as the API's errors name them.
  const FIELDS = { title: 'Title', description: 'Description', priority: 'Priority', region: 'Region' };

  const state = {
    tickets: new Map(), // id -> ticket, as last read
    order: [], // ids, newest first
    limit: PAGE,
    selected: null, // the id shown in the detail
    shown: null, // `${id}:${status}` the detail's actions were built for
    poller: null, // brings the page up to date; `now()` at once
    draft: newDraft(), // names this page's next ticket for the Idempotency-Key
  };

  // ---------- submitting once ----------

  // A random name for the next ticket; a new one after each ticket stored.
  function newDraft() {
    return Array.from(crypto.getRandomValues(new Uint32Array(3)), (n) => n.toString(16)).join('');
  }

  // The Idempotency-Key of a submission: the draft and what it says (FNV-1a over the JSON). The
  // same ticket sent again, after an answer that never came, is stored once; an edited one is new.
  function keyOf(ticket) {
    let hash = 0x811c9dc5;
    for (const c of JSON.stringify(ticket)) {
      hash = Math.imul(hash ^ c.codePointAt(0), 0x01000193) >>> 0;
    }
    return `web-${state.draft}-${hash.toString(16)}`;
  }

  // ---------- signing up ----------

  // The sign-in dialog doubles as the sign-up form: the mode decides where session.js sends it.
  function offerSignUp() {
    const form = $('signin').querySelector('form');
    $('signin-switch').addEventListener('click', () => {
      const registering = form.dataset.action !== 'register';
      form.dataset.action = registering ? 'register' : 'login';
      $('signin-title').textContent = registering ? 'Create an account' : 'Sign in';
      $('signin-submit').textContent = registering ? 'Create account' : 'Sign in';
      $('signin-switch-text').textContent = registering ? 'Have an account?' : 'New here?';
      $('signin-switch').textContent = registering ? 'Sign in instead' : 'Create an account';
      $('signin-name-field').hidden = !registering;
      $('signin-password-hint').hidden = !registering;
      $('signin-password').autocomplete = registering ? 'new-password' : 'current-password';
      form.querySelector('.message').textContent = '';
      $(registering ? 'signin-name' : 'signin-email').focus();
    });
  }

  // ---------- reporting a problem ----------

  function clearErrors() {
    for (const f of Object.keys(FIELDS)) {
      $(`${f}-error`).textContent = '';
      $(f).removeAttribute('aria-invalid');
    }
    $('form-error').textContent = '';
    $('form-status').textContent = '';
  }

  // The API's verdict on the fields, next to each field; anything else above the button.
  function showErrors(result) {
    const details = Array.isArray(result.body.detail) ? result.body.detail : [];
    let first = null;
    const elsewhere = [];
    for (const { field, message } of details) {
      if (FIELDS[field]) {
        $(`${field}-error`).textContent = `${FIELDS[field]} ${message}.`;
        $(field).setAttribute('aria-invalid', 'true');
        first = first || field;
      } else {
        elsewhere.push(`${field} ${message}`);
      }
    }
    const parts = [first ? 'please correct the fields marked above' : null, ...elsewhere].filter(Boolean);
    $('form-error').textContent = details.length
      ? `The ticket was not submitted: ${parts.join('; ')}.`
      : `The ticket was not submitted. ${problem(result)}`;
    if (first) $(first).focus();
  }

  async function submit(event) {
    event.preventDefault();
    const form = event.target;
    const button = form.querySelector('button[type=submit]');
    clearErrors();
    const fields = Object.fromEntries(new FormData(form));
    const ticket = { title: fields.title, description: fields.description, priority: fields.priority };
    if (fields.region.trim()) ticket.region = fields.region;
    button.disabled = true;
    const result = await api('POST', '/api/tickets', ticket, { 'idempotency-key': keyOf(ticket) });
    button.disabled = false;
    if (!result.ok) return showErrors(result);
    form.reset();
    state.draft = newDraft();
    $('form-status').textContent = `Thank you: ticket “${result.body.title}” is submitted. Follow it under Your tickets.`;
    remember(result.body);
    if (!state.order.includes(result.body.id)) state.order.unshift(result.body.id);
    select(result.body.id);
    renderList();
    state.poller.now();
  }

  // ---------- the list ----------

  function remember(ticket) {
    state.tickets.set(ticket.id, ticket);
  }

  function meta(t) {
    return [
      t.category ? `Category: ${t.category}` : 'Not categorized yet',
      t.assignee_name ? `Expert: ${t.assignee_name}` : null,
      `Updated ${UI.ago(t.updated_at)}`,
    ].filter(Boolean).join(' · ');
  }

  function renderList(total) {
    const list = $('tickets');
    list.replaceChildren(...state.order.map((id) => {
      const t = state.tickets.get(id);
      const selected = id === state.selected;
      return el('li', {},
        el('button', {
          type: 'button', class: `ticket${selected ? ' selected' : ''}`, 'data-id': t.id,
          'data-status': t.status, 'aria-expanded': String(selected), 'aria-controls': 'detail',
          onclick: () => select(selected ? null : t.id),
        },
        el('span', { class: 'ticket-top' }, el('span', { class: 'ticket-title' }, t.title), UI.badge(t.status)),
        el('span', { class: 'ticket-meta' }, meta(t))));
    }));
    $('empty').hidden = state.order.length > 0;
    if (total !== undefined) $('more').hidden = total <= state.order.length;
  }

  // ---------- one ticket ----------

  function select(id) {
    state.selected = id;
    state.shown = null;
    renderList();
    renderDetail();
    if (id) {
      loadHistory();
      $('detail').scrollIntoView({ behavior: 'smooth', block: 'nearest' });
    }
  }

  function renderDetail() {
    const t = state.tickets.get(state.selected);
    $('detail').hidden = !t;
    if (!t) return;
    $('detail').dataset.id = t.id;
    $('detail').dataset.status = t.status;
    $('detail-title').textContent = t.title;
    $('detail-badge').replaceChildren(UI.badge(t.status));
    $('detail-meaning').textContent = t.status === 'resolved'
      ? 'The expert has resolved it. If all is well, close the ticket.'
      : UI.statusMeaning(t.status);
    $('detail-facts').replaceChildren(UI.facts([
      ['Ticket', el('code', {}, t.id)],
      ['Submitted', UI.time(t.created_at)],
      ['Priority', UI.priorityLabel(t.priority)],
      ['Region', t.region],
      ['Category', t.category],
      ['Expert', t.assignee_name],
      ['Last change', UI.time(t.updated_at)],
    ]));
    $('detail-description').textContent = t.description;
    // The actions follow the status; a form the customer has open stays while it does not change.
    const key = `${t.id}:${t.status}`;
    if (state.shown !== key) {
      state.shown = key;
      $('detail-error').textContent = '';
      renderActions(t);
    }
  }

  function renderActions(t) {
    const area = $('detail-actions');
    const offer = (label, cls, form) => el('button', {
      type: 'button', class: cls, onclick: () => area.replaceChildren(form()),
    }, label);
    const buttons = [];
    if (CANCELLABLE.includes(t.status)) {
      buttons.push(offer('Cancel ticket', 'secondary', () => UI.confirmForm({
        question: 'Cancel this ticket? Nobody will work on it any more.',
        reason: { label: 'Why? (optional)' },
        confirm: 'Cancel ticket', back: 'Keep it', danger: true,
        onConfirm: (reason) => move(t.id, 'cancel', reason),
        onBack: () => renderActions(t),
      })));
    }
    if (t.status === 'resolved') {
      buttons.push(offer('Close ticket', 'primary', () => UI.confirmForm({
        question: 'Is the problem solved? Closing ends the ticket.',
        confirm: 'Yes, close it', back: 'Not yet',
        onConfirm: () => move(t.id, 'close'),
        onBack: () => renderActions(t),
      })));
    }
    area.replaceChildren(...buttons);
  }

  // A lifecycle move; resolves to an error text when it was refused.
  async function move(id, action, reason) {
    const result = await api('POST', `/api/tickets/${id}/${action}`, reason ? { reason } : {});
    if (!result.ok) return problem(result);
    remember(result.body);
    state.shown = null;
    renderList();
    renderDetail();
    loadHistory();
    return null;
  }

  async function loadHistory() {
    const id = state.selected;
    if (!id) return true;
    const result = await api('GET', `/api/tickets/${id}/history`);
    if (id !== state.selected) return true;
    if (result.ok) UI.history($('detail-history'), result.body.events || []);
    return result.status !== 0;
  }

  // ---------- keeping up to date ----------

  async function refresh() {
    const result = await api('GET', `/api/tickets?limit=${state.limit}`);
    if (!result.ok) {
      $('list-error').textContent = problem(result);
      return result.status !== 0;
    }
    $('list-error').textContent = '';
    for (const t of result.body.items) remember(t);
    state.order = result.body.items.map((t) => t.id);
    if (state.selected && !state.tickets.has(state.selected)) state.selected = null;
    renderList(result.body.total);
    renderDetail();
    return loadHistory();
  }

  async function start() {
    offerSignUp();
    if (!await UI.enter('customer', 'customers')) return;
    $('workspace').hidden = false;
    $('ticket-form').addEventListener('submit', submit);
    $('detail-close').addEventListener('click', () => select(null));
    state.poller = UI.poll(refresh, REFRESH_MS, $('live'));
    $('more').addEventListener('click', () => { state.limit += PAGE; state.poller.now(); });
  }

  start();
})();
