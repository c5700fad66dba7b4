// Sunlight console. Plain ES2020 module, no dependencies.
// Never builds HTML from strings: every node is created with createElement /
// textContent, so user-provided data cannot inject markup.

import {
  t, getLang, setLang, fmtDateTime, fmtDate, fmtTime, fmtMoneyCents, fmtNumber,
} from './i18n.js';

const TOKEN_KEY = 'sunlight.token';
const CODES = ['red', 'yellow', 'green', 'unknown'];
const STATUSES = ['pushed', 'received', 'verifying', 'rectified', 'confirmed', 'dismissed'];
const STATUS_RANK = { pushed: 0, received: 1, verifying: 2, rectified: 3, confirmed: 3, dismissed: 3 };
const FINAL_RANK = 3;
const MONEY_MEASURES = ['sum', 'avg', 'min', 'max'];
const PAGE_LIMIT = 50;
const BOARD_REFRESH_MS = 10000;
const POLL_MS = 1000;
const POLL_TRIES = 15;

const state = {
  token: null,
  session: null,
  rules: new Map(),
  gen: 0,            // bumped on every navigation; stale async work checks it
  timers: [],
  paging: { key: null, cursor: null, stack: [] },
};

// ---------------------------------------------------------------- DOM helpers

const $ = (sel, root = document) => root.querySelector(sel);

/** h('tag', {attr: value, class: '...', text: '...', onclick: fn}, ...children) */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  applyAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  applyAttrs(el, attrs);
  append(el, children);
  return el;
}

function applyAttrs(el, attrs) {
  if (!attrs) return;
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'text') el.textContent = String(v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

function timeEl(v, fmt = fmtDateTime) {
  if (!v) return document.createTextNode(t('common.none'));
  return h('time', { datetime: v, title: v, text: fmt(v) });
}

function codeBadge(code, attrs = {}) {
  const c = CODES.includes(code) ? code : 'unknown';
  return h('span', { class: `badge code-${c}`, 'data-code': c, ...attrs, text: t(`code.${c}`) });
}

function statusBadge(status, attrs = {}) {
  const label = STATUSES.includes(status) || status === 'open' || status === 'closed'
    ? t(`status.${status}`) : String(status || t('common.none'));
  return h('span', { class: `badge status status-${status}`, 'data-status': status, ...attrs, text: label });
}

function loading() {
  return h('p', { class: 'loading', role: 'status', text: t('common.loading') });
}

function errorBox(err) {
  const box = h('div', { class: 'error', role: 'alert' });
  if (err && err.status === 404) {
    box.appendChild(h('strong', { text: t('common.notfound') }));
    if (err.message) box.appendChild(h('span', { class: 'error-detail', text: ` (${err.message})` }));
  } else {
    box.appendChild(h('strong', { text: `${t('common.error')}: ` }));
    box.appendChild(document.createTextNode(err && err.message ? err.message : String(err)));
  }
  return box;
}

function keyText(key) {
  if (!key || typeof key !== 'object') return key ? String(key) : '';
  const parts = Object.entries(key).map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`);
  return parts.join(', ');
}

function attrsText(attrs) {
  if (!attrs || typeof attrs !== 'object') return '';
  return Object.entries(attrs)
    .map(([k, v]) => `${k}=${typeof v === 'object' && v !== null ? JSON.stringify(v) : v}`)
    .join('; ');
}

function dash() { return t('common.none'); }

function officialLink(id, attrs = {}) {
  if (!id) return document.createTextNode(dash());
  return h('a', { href: `#/official/${encodeURIComponent(id)}`, ...attrs, text: id });
}

function warningLink(id, label, attrs = {}) {
  return h('a', { href: `#/warning/${encodeURIComponent(id)}`, ...attrs, text: label || id });
}

// A rule is named by its id (e.g. split-payment); its `title` is the template of
// its warnings' titles, not a name. The description goes in tooltips.
function ruleTitle(ruleId) {
  return ruleId;
}

function ruleDescription(ruleId) {
  const r = state.rules.get(ruleId);
  return (r && r.description) || '';
}

function isMoney(ruleId, measure) {
  const r = state.rules.get(ruleId);
  return !!(r && r.field === 'amount_cents' && MONEY_MEASURES.includes(measure));
}

function fmtMeasure(ruleId, measure, v) {
  if (v === null || v === undefined) return dash();
  return isMoney(ruleId, measure) ? fmtMoneyCents(v) : fmtNumber(v);
}

function measureName(m) {
  const k = `measure.${m}`;
  const s2 = t(k);
  return s2 === k ? m : s2;
}

const OPS = { '>=': '≥', '<=': '≤', '>': '>', '<': '<', '==': '=', '=': '=', '!=': '≠' };

function table(id, captionText, headers, rows, emptyText) {
  const thead = h('thead', null, h('tr', null, headers.map((x) => h('th', { scope: 'col', text: x }))));
  const tbody = h('tbody');
  if (rows.length === 0) {
    tbody.appendChild(h('tr', { class: 'empty-row' },
      h('td', { colspan: headers.length, text: emptyText || t('common.empty') })));
  } else {
    append(tbody, rows);
  }
  return h('div', { class: 'table-wrap' },
    h('table', { id, class: 'data' }, h('caption', { text: captionText }), thead, tbody));
}

function td(content, cls) {
  return h('td', cls ? { class: cls } : null, content === null || content === undefined ? dash() : content);
}

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

// ---------------------------------------------------------------- API client

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

class SignedOut extends Error {}

async function api(path, opts = {}) {
  const headers = { Accept: 'application/json', Authorization: `Bearer ${state.token}` };
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, {
      method: opts.method || 'GET',
      headers,
      body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
      credentials: 'omit',
      cache: 'no-store',
      referrerPolicy: 'no-referrer',
    });
  } catch (e) {
    throw new ApiError(0, 'network', t('common.network'));
  }
  let data = null;
  const text = await res.text();
  if (text) {
    try { data = JSON.parse(text); } catch (_) { data = null; }
  }
  if (res.status === 401) {
    const msg = (data && data.message) || res.statusText || 'unauthorized';
    signOut(msg);
    throw new SignedOut(msg);
  }
  if (!res.ok) {
    const msg = (data && (data.message || data.error)) || `HTTP ${res.status} ${res.statusText}`;
    throw new ApiError(res.status, data && data.error, msg);
  }
  return data;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== null && v !== undefined && v !== '') q.set(k, v);
  }
  const str = q.toString();
  return str ? `?${str}` : '';
}

// ---------------------------------------------------------------- token / session

function readTokenFromHash() {
  const raw = location.hash.replace(/^#/, '');
  if (!raw.startsWith('token=') && !raw.includes('&token=')) return;
  const p = new URLSearchParams(raw);
  const tok = p.get('token');
  // Always strip the token from the URL (and history) right away.
  history.replaceState(null, '', `${location.pathname}${location.search}#/board`);
  if (tok) {
    try { sessionStorage.setItem(TOKEN_KEY, tok); } catch (_) { /* ignore */ }
    state.token = tok;
  }
}

function loadToken() {
  try { state.token = sessionStorage.getItem(TOKEN_KEY) || null; } catch (_) { state.token = null; }
}

function signOut(message) {
  try { sessionStorage.removeItem(TOKEN_KEY); } catch (_) { /* ignore */ }
  state.token = null;
  state.session = null;
  state.rules = new Map();
  state.paging = { key: null, cursor: null, stack: [] };
  showSignIn(message);
}

async function loadSession() {
  state.session = await api('/v1/session');
  try {
    const r = await api('/v1/rules');
    state.rules = new Map(((r && r.rules) || []).map((x) => [x.rule_id, x]));
  } catch (e) {
    if (e instanceof SignedOut) throw e;
    state.rules = new Map();   // not fatal: values just stay unformatted
  }
}

// ---------------------------------------------------------------- header / chrome

function applyStatic() {
  document.documentElement.lang = getLang();
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll('[data-i18n-aria]')) el.setAttribute('aria-label', t(el.dataset.i18nAria));
  $('#lang').value = getLang();
}

function updateChrome(routeName) {
  const signedIn = !!(state.token && state.session);
  $('#nav').hidden = !signedIn;
  $('#who').hidden = !signedIn;
  $('#sign-out').hidden = !state.token;
  const banner = $('#loop-off');
  banner.hidden = !(signedIn && state.session.casework === false);
  if (signedIn) {
    $('#whoami').textContent = state.session.sub || '';
    $('#whoami').title = (state.session.roles || []).join(', ');
    $('#readonly-badge').hidden = !!state.session.can_handle;
  }
  const navFor = { board: 'nav-board', officials: 'nav-officials', official: 'nav-officials', warnings: 'nav-warnings', warning: 'nav-warnings' };
  for (const id of ['nav-board', 'nav-officials', 'nav-warnings']) {
    const a = document.getElementById(id);
    if (navFor[routeName] === id) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

function setTitle(s2) {
  document.title = s2 ? `${s2} · ${t('app.name')}` : t('app.name');
}

// ---------------------------------------------------------------- router

function parseRoute() {
  let raw = location.hash.replace(/^#/, '');
  if (!raw.startsWith('/')) raw = '/board';
  const qi = raw.indexOf('?');
  const path = qi >= 0 ? raw.slice(0, qi) : raw;
  const qs = qi >= 0 ? raw.slice(qi + 1) : '';
  const parts = path.split('/').filter(Boolean);
  let arg = parts.slice(1).join('/');
  try { arg = decodeURIComponent(arg); } catch (_) { /* keep raw */ }
  return { name: parts[0] || 'board', arg, params: new URLSearchParams(qs), key: raw };
}

function go(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

function clearTimers() {
  for (const id of state.timers) clearInterval(id);
  state.timers = [];
}

async function render() {
  const gen = ++state.gen;
  clearTimers();
  const alive = () => gen === state.gen;
  const main = $('#main');
  if (!state.token) { showSignIn(); return; }
  const route = parseRoute();
  if (!state.session) {
    updateChrome(null);
    main.replaceChildren(loading());
    try {
      await loadSession();
    } catch (e) {
      if (e instanceof SignedOut || !alive()) return;
      main.replaceChildren(errorBox(e), retryButton());
      return;
    }
    if (!alive()) return;
  }
  updateChrome(route.name);
  const page = PAGES[route.name];
  main.replaceChildren(loading());
  if (!page) {
    setTitle(t('common.notfound'));
    main.replaceChildren(errorBox(new ApiError(404, 'not_found', '')));
    return;
  }
  try {
    await page(main, route, alive);
  } catch (e) {
    if (e instanceof SignedOut || !alive()) return;
    main.replaceChildren(errorBox(e), retryButton());
  }
}

function retryButton() {
  return h('p', null, h('button', { type: 'button', class: 'btn', onclick: () => render(), text: t('common.retry') }));
}

// ---------------------------------------------------------------- sign-in

function showSignIn(message) {
  state.gen++;
  clearTimers();
  updateChrome(null);
  setTitle(t('signin.title'));
  const input = h('textarea', {
    id: 'token-input', name: 'token', rows: 3, autocomplete: 'off', spellcheck: 'false',
    autocapitalize: 'off', required: true, 'aria-describedby': 'sign-in-intro sign-in-error',
  });
  const err = h('p', { id: 'sign-in-error', class: 'error', role: 'alert' });
  if (message) err.textContent = `${t('signin.failed')}: ${message}`;
  else err.hidden = true;
  const button = h('button', { type: 'submit', id: 'sign-in', class: 'btn btn-primary', text: t('signin.button') });
  const form = h('form', { id: 'sign-in-form', class: 'signin-form', novalidate: true },
    h('label', { for: 'token-input', text: t('signin.label') }),
    input,
    err,
    h('div', { class: 'form-actions' }, button));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const tok = input.value.trim();
    if (!tok) {
      err.hidden = false;
      err.textContent = t('signin.empty');
      input.focus();
      return;
    }
    try { sessionStorage.setItem(TOKEN_KEY, tok); } catch (_) { /* ignore */ }
    state.token = tok;
    state.session = null;
    button.disabled = true;
    button.textContent = t('signin.checking');
    const r = parseRoute();
    if (!location.hash || location.hash === '#' || !PAGES[r.name]) {
      history.replaceState(null, '', `${location.pathname}${location.search}#/board`);
    }
    await render();
  });
  const card = h('section', { class: 'card signin', 'aria-labelledby': 'sign-in-title' },
    h('h1', { id: 'sign-in-title', text: t('signin.title') }),
    h('p', { id: 'sign-in-intro', class: 'muted', text: t('signin.intro') }),
    form);
  $('#main').replaceChildren(card);
  input.focus();
}

// ---------------------------------------------------------------- board

async function pageBoard(main, route, alive) {
  setTitle(t('board.title'));
  const summary = await api('/v1/summary');
  if (!alive()) return;
  const heading = h('div', { class: 'page-head' },
    h('h1', { text: t('board.title') }),
    h('p', { class: 'updated muted' },
      h('span', { id: 'board-updated', role: 'status' }),
      ' · ',
      h('span', { text: t('board.autorefresh') })));
  const refreshError = h('div', { id: 'board-error', class: 'error', role: 'alert', hidden: true });
  const body = h('div', { id: 'board-body' });
  main.replaceChildren(heading, refreshError, body);
  drawBoard(body, summary);

  const tick = async () => {
    if (!alive() || document.hidden) return;
    try {
      const next = await api('/v1/summary');
      if (!alive()) return;
      refreshError.hidden = true;
      drawBoard(body, next);
    } catch (e) {
      if (e instanceof SignedOut || !alive()) return;
      refreshError.hidden = false;
      refreshError.textContent = t('board.refreshFailed', { msg: e.message });
    }
  };
  state.timers.push(setInterval(tick, BOARD_REFRESH_MS));
}

function tileKey(el) {
  return el && el.classList && el.classList.contains('tile')
    ? [el.closest('table') && el.closest('table').id, el.dataset.region, el.dataset.orgUnit, el.dataset.code]
    : null;
}

function drawBoard(body, summary) {
  // Keep keyboard focus on the same tile across refreshes.
  const focused = tileKey(document.activeElement);

  $('#board-updated').textContent = t('board.updated', { time: fmtTime(new Date()) })
    + (summary.computed_at ? ` (${t('board.computed', { time: fmtDateTime(summary.computed_at) })})` : '');
  $('#board-updated').title = summary.computed_at || '';
  if (state.session && typeof summary.casework === 'boolean') {
    $('#loop-off').hidden = summary.casework !== false;
  }

  const nodes = [];

  // Regions
  const regionRows = (summary.regions || []).map((r) => {
    const place = r.region ? r.region : t('board.unknownRegion');
    return h('tr', { 'data-region': r.region },
      h('th', { scope: 'row', class: r.region ? null : 'muted', text: place }),
      CODES.map((c) => h('td', { class: 'tile-cell' }, tile(r[c], c, { region: r.region }, place))),
      h('td', { class: 'num total-cell', text: fmtNumber(r.total) }));
  });
  const o = summary.officials || {};
  const totalsRow = h('tr', { class: 'totals' },
    h('th', { scope: 'row', text: t('board.total') }),
    CODES.map((c) => h('td', { class: 'tile-cell' }, tile(o[c], c, {}, null))),
    h('td', { class: 'num total-cell', text: fmtNumber(o.total) }));
  const codeHeads = CODES.map((c) => h('th', { scope: 'col', class: 'code-head' }, codeBadge(c)));
  nodes.push(h('section', { class: 'panel', 'aria-labelledby': 'board-h' },
    h('h2', { id: 'board-h', text: t('board.byRegion') }),
    h('div', { class: 'table-wrap' },
      h('table', { id: 'board', class: 'data board' },
        h('caption', { class: 'sr-only', text: t('board.byRegion') }),
        h('thead', null, h('tr', null,
          h('th', { scope: 'col', text: t('board.region') }), codeHeads,
          h('th', { scope: 'col', class: 'num', text: t('board.total') }))),
        h('tbody', null, regionRows.length ? regionRows
          : h('tr', { class: 'empty-row' }, h('td', { colspan: 6, text: t('board.noRegions') }))),
        h('tfoot', null, totalsRow)))));

  // Org units
  const unitRows = (summary.org_units || []).map((u) => {
    const regionLabel = u.region ? u.region : t('board.unknownRegion');
    const unitLabel = u.org_unit ? u.org_unit : t('board.unknownUnit');
    return h('tr', { 'data-region': u.region, 'data-org-unit': u.org_unit },
      h('td', { class: u.region ? null : 'muted', text: regionLabel }),
      h('th', { scope: 'row', class: u.org_unit ? null : 'muted', text: unitLabel }),
      CODES.map((c) => h('td', { class: 'tile-cell' },
        tile(u[c], c, { region: u.region, orgUnit: u.org_unit }, `${regionLabel} / ${unitLabel}`))),
      h('td', { class: 'num total-cell', text: fmtNumber(u.total) }));
  });
  nodes.push(h('section', { class: 'panel', 'aria-labelledby': 'board-units-h' },
    h('h2', { id: 'board-units-h', text: t('board.byUnit') }),
    h('div', { class: 'table-wrap' },
      h('table', { id: 'board-units', class: 'data board' },
        h('caption', { class: 'sr-only', text: t('board.byUnit') }),
        h('thead', null, h('tr', null,
          h('th', { scope: 'col', text: t('board.region') }),
          h('th', { scope: 'col', text: t('board.unit') }),
          CODES.map((c) => h('th', { scope: 'col', class: 'code-head' }, codeBadge(c))),
          h('th', { scope: 'col', class: 'num', text: t('board.total') }))),
        h('tbody', null, unitRows.length ? unitRows
          : h('tr', { class: 'empty-row' }, h('td', { colspan: 7, text: t('board.noRegions') })))))));

  // Open warnings by rule
  const ow = summary.open_warnings || { total: 0, by_rule: [] };
  const ruleRows = (ow.by_rule || []).map((r) => h('tr', { 'data-rule-id': r.rule_id },
    h('th', { scope: 'row' },
      h('a', { href: `#/warnings${query({ status: 'open', rule_id: r.rule_id })}`, text: ruleTitle(r.rule_id), title: ruleDescription(r.rule_id) || null })),
    h('td', { class: 'num' }, countWithLabel(r.red, 'red', { status: 'open', level: 'red', rule_id: r.rule_id })),
    h('td', { class: 'num' }, countWithLabel(r.yellow, 'yellow', { status: 'open', level: 'yellow', rule_id: r.rule_id })),
    h('td', { class: 'num', text: fmtNumber(r.total) })));
  nodes.push(h('section', { class: 'panel', 'aria-labelledby': 'open-by-rule-h' },
    h('h2', { id: 'open-by-rule-h', text: t('board.byRule', { n: fmtNumber(ow.total || 0) }) }),
    table('open-by-rule', t('board.byRule', { n: fmtNumber(ow.total || 0) }),
      [t('board.rule'), t('code.red'), t('code.yellow'), t('board.openTotal')],
      ruleRows, t('board.noRules'))));
  const cap = $('caption', nodes[nodes.length - 1]);
  if (cap) cap.classList.add('sr-only');
  markNumericHeads($('#open-by-rule', nodes[nodes.length - 1]), [1, 2, 3]);

  body.replaceChildren(...nodes);

  if (focused) {
    const [tableId, region, orgUnit, code] = focused;
    for (const b of body.querySelectorAll(`#${tableId} button.tile`)) {
      if (b.dataset.region === region && b.dataset.orgUnit === orgUnit && b.dataset.code === code) { b.focus(); break; }
    }
  }
}

function countWithLabel(n, level, params) {
  const v = Number(n || 0);
  if (!v) return h('span', { class: 'muted', text: '0' });
  return h('a', { href: `#/warnings${query(params)}`, class: `count-link level-${level}`, text: fmtNumber(v) });
}

function tile(n, code, where, placeLabel) {
  const count = Number(n || 0);
  const attrs = {
    type: 'button',
    class: `tile code-${code}${count === 0 ? ' zero' : ''}`,
    'data-code': code,
    'aria-label': placeLabel === null
      ? t('board.tileTotal', { code: t(`code.${code}`), n: count })
      : t('board.tile', { place: placeLabel, code: t(`code.${code}`), n: count }),
  };
  if (where.region !== undefined) attrs['data-region'] = where.region;
  if (where.orgUnit !== undefined) attrs['data-org-unit'] = where.orgUnit;
  // An empty region/unit is "unknown": the list cannot filter on it, so the tile is inert.
  const unfilterable = (where.region !== undefined && !where.region)
    || (where.orgUnit !== undefined && !where.orgUnit);
  if (unfilterable) attrs.disabled = true;
  const b = h('button', attrs,
    h('span', { class: 'count', text: fmtNumber(count) }),
    h('span', { class: 'tile-label', 'aria-hidden': 'true', text: t(`code.${code}`) }));
  b.addEventListener('click', () => {
    const p = { region: where.region, org_unit: where.orgUnit, code };
    go(`#/officials${query(p)}`);
  });
  return b;
}

// ---------------------------------------------------------------- paging

function pagingFor(route) {
  if (state.paging.key !== route.key) state.paging = { key: route.key, cursor: null, stack: [] };
  return state.paging;
}

function pager(pg, nextCursor) {
  const prev = h('button', { type: 'button', id: 'prev-page', class: 'btn', text: `‹ ${t('common.prev')}` });
  const next = h('button', { type: 'button', id: 'next-page', class: 'btn', text: `${t('common.next')} ›` });
  prev.disabled = pg.stack.length === 0;
  next.disabled = !nextCursor;
  prev.addEventListener('click', () => {
    if (!pg.stack.length) return;
    pg.cursor = pg.stack.pop();
    render();
  });
  next.addEventListener('click', () => {
    if (!nextCursor) return;
    pg.stack.push(pg.cursor);
    pg.cursor = nextCursor;
    render();
  });
  return h('nav', { class: 'pager', 'aria-label': t('common.page', { n: pg.stack.length + 1 }) },
    prev, h('span', { class: 'page-no', text: t('common.page', { n: pg.stack.length + 1 }) }), next);
}

function selectField(id, label, options, value) {
  const sel = h('select', { id, name: id });
  for (const [v, text] of options) {
    const o = h('option', { value: v, text });
    if (v === value) o.selected = true;
    sel.appendChild(o);
  }
  return h('div', { class: 'field' }, h('label', { for: id, text: label }), sel);
}

function inputField(id, label, value, type = 'text') {
  return h('div', { class: 'field' },
    h('label', { for: id, text: label }),
    h('input', { id, name: id, type, value: value || '', autocomplete: 'off', spellcheck: 'false' }));
}

function filterForm(id, fields, onApply, resetHash) {
  const form = h('form', { id, class: 'filters', role: 'search', 'aria-label': t('common.filters'), novalidate: true },
    fields,
    h('div', { class: 'field field-actions' },
      h('button', { type: 'submit', id: 'filter-apply', class: 'btn btn-primary', text: t('common.apply') }),
      h('a', { href: resetHash, class: 'btn btn-link', id: 'filter-reset', text: t('common.reset') })));
  form.addEventListener('submit', (ev) => { ev.preventDefault(); onApply(form); });
  return form;
}

// ---------------------------------------------------------------- officials list

async function pageOfficials(main, route, alive) {
  setTitle(t('officials.title'));
  const p = route.params;
  const filters = { code: p.get('code') || '', region: p.get('region') || '', org_unit: p.get('org_unit') || '' };
  const pg = pagingFor(route);
  const form = filterForm('officials-filter', [
    selectField('filter-code', t('officials.filterCode'),
      [['', t('common.all')], ...CODES.map((c) => [c, t(`code.${c}`)])], filters.code),
    inputField('filter-region', t('officials.filterRegion'), filters.region),
    inputField('filter-org-unit', t('officials.filterUnit'), filters.org_unit),
  ], (f) => {
    go(`#/officials${query({
      code: $('#filter-code', f).value,
      region: $('#filter-region', f).value.trim(),
      org_unit: $('#filter-org-unit', f).value.trim(),
    })}`);
  }, '#/officials');
  const results = h('div', { id: 'officials-results' }, loading());
  main.replaceChildren(h('div', { class: 'page-head' }, h('h1', { text: t('officials.title') })), form, results);

  const data = await api(`/v1/officials${query({ ...filters, limit: PAGE_LIMIT, cursor: pg.cursor })}`);
  if (!alive()) return;
  const rows = (data.items || []).map((o) => h('tr', { 'data-official-id': o.official_id },
    h('th', { scope: 'row' }, officialLink(o.official_id)),
    td(o.region || dash()),
    td(o.org_unit || dash()),
    td(codeBadge(o.code)),
    td(o.score === null || o.score === undefined ? dash() : fmtNumber(o.score), 'num'),
    td(fmtNumber(o.open_warnings || 0), 'num')));
  results.replaceChildren(
    table('officials', t('officials.caption'), [
      t('officials.id'), t('officials.region'), t('officials.unit'), t('officials.code'),
      t('officials.score'), t('officials.openWarnings'),
    ], rows),
    pager(pg, data.next_cursor));
  markNumericHeads($('#officials'), [4, 5]);
}

function markNumericHeads(tbl, idx) {
  if (!tbl) return;
  const ths = tbl.querySelectorAll('thead th');
  for (const i of idx) if (ths[i]) ths[i].classList.add('num');
}

// ---------------------------------------------------------------- official detail

async function pageOfficial(main, route, alive) {
  const id = route.arg;
  setTitle(t('official.title', { id }));
  const enc = encodeURIComponent(id);
  const [detail, codes] = await Promise.all([
    api(`/v1/officials/${enc}`),
    api(`/v1/officials/${enc}/codes`).catch((e) => { if (e instanceof SignedOut) throw e; return e; }),
  ]);
  if (!alive()) return;
  const risk = detail.risk || { code: 'unknown', score: null };

  const head = h('div', { class: 'page-head' },
    h('p', { class: 'crumbs' }, h('a', { href: '#/officials', text: `‹ ${t('nav.officials')}` })),
    h('h1', null, h('span', { id: 'official-id', text: detail.official_id || id })));

  const facts = h('dl', { class: 'facts' },
    fact(t('official.risk'), codeBadge(risk.code, { id: 'official-code' })),
    fact(t('official.score'), h('span', { id: 'official-score', class: 'score',
      text: risk.score === null || risk.score === undefined ? dash() : fmtNumber(risk.score) })),
    fact(t('official.computed'), timeEl(risk.computed_at)),
    fact(t('official.region'), detail.region || dash()),
    fact(t('official.unit'), detail.org_unit || dash()));

  // Code history
  const histSection = h('section', { class: 'panel', 'aria-labelledby': 'code-history-h' },
    h('h2', { id: 'code-history-h', text: t('official.history') }));
  if (codes instanceof Error) {
    histSection.appendChild(codeChart([]));
    histSection.appendChild(h('div', { class: 'error', role: 'alert', text: t('official.historyFailed', { msg: codes.message }) }));
  } else {
    const hist = codes.history || [];
    histSection.appendChild(codeChart(hist, codes.current));
    const rows = hist.map((x) => h('tr', null,
      td(timeEl(x.at)),
      td(codeBadge(x.code)),
      td(x.previous ? codeBadge(x.previous) : dash()),
      td(x.score === null || x.score === undefined ? dash() : fmtNumber(x.score), 'num'),
      td((x.warnings || []).length
        ? h('span', { class: 'id-list' }, (x.warnings || []).map((w) => warningLink(w, w, { class: 'mono' })))
        : dash())));
    histSection.appendChild(table('code-history', t('official.historyCaption'),
      [t('official.at'), t('official.code'), t('official.previous'), t('official.score'), t('official.warningsCol')],
      rows));
    markNumericHeads($('#code-history', histSection), [3]);
  }

  // Open warnings
  const ow = detail.open_warnings || [];
  const owRows = ow.map((w) => h('tr', { 'data-warning-id': w.warning_id },
    h('th', { scope: 'row' }, warningLink(w.warning_id, w.title || w.warning_id)),
    td(ruleTitle(w.rule_id)),
    td(codeBadge(w.level)),
    td(statusBadge(w.status)),
    td(timeEl(w.occurred_at)),
    td(keyText(w.key) || dash())));
  const owSection = h('section', { class: 'panel', 'aria-labelledby': 'open-warnings-h' },
    h('h2', { id: 'open-warnings-h', text: t('official.openWarnings') }),
    table('open-warnings', t('official.openCaption'), [
      t('warnings.warning'), t('warnings.rule'), t('warnings.level'), t('warnings.status'),
      t('warnings.occurred'), t('warnings.key')], owRows, t('official.noOpen')));

  // Windows
  const wins = detail.windows || [];
  const winRows = wins.map((w) => h('tr', { 'data-rule-id': w.rule_id },
    h('th', { scope: 'row', text: ruleTitle(w.rule_id) }),
    td(keyText(w.key) || dash()),
    td(fmtNumber(w.count), 'num'),
    td(w.sum === undefined || w.sum === null ? dash() : fmtMeasure(w.rule_id, 'sum', w.sum), 'num'),
    td(w.window ? timeEl(w.window.start) : dash()),
    td(w.window ? timeEl(w.window.end) : dash())));
  const winSection = h('section', { class: 'panel', 'aria-labelledby': 'windows-h' },
    h('h2', { id: 'windows-h', text: t('official.windows') }),
    table('windows', t('official.windowsCaption'), [
      t('warnings.rule'), t('warnings.key'), measureName('count'), measureName('sum'),
      `${t('warning.window')} ▸`, `${t('warning.window')} ◂`], winRows, t('official.noWindows')));
  markNumericHeads($('#windows', winSection), [2, 3]);

  main.replaceChildren(head, h('section', { class: 'panel summary-panel' }, facts), histSection, owSection, winSection);
}

function fact(label, value) {
  return h('div', { class: 'fact' }, h('dt', { text: label }), h('dd', null, value));
}

/** Step chart of score over time; points coloured (and titled) by code. */
function codeChart(history, current) {
  const W = 760, H = 200;
  const pad = { l: 52, r: 20, t: 16, b: 34 };
  const svg = s('svg', {
    id: 'code-chart', class: 'chart', viewBox: `0 0 ${W} ${H}`, width: '100%', height: H,
    role: 'img', 'aria-label': t('official.chartLabel'), preserveAspectRatio: 'xMinYMin meet',
  });
  const pts = (history || [])
    .map((x) => ({ ...x, time: Date.parse(x.at) }))
    .filter((x) => !isNaN(x.time) && x.score !== null && x.score !== undefined && !isNaN(Number(x.score)));
  svg.appendChild(s('rect', { x: pad.l, y: pad.t, width: W - pad.l - pad.r, height: H - pad.t - pad.b, class: 'chart-bg' }));
  if (!pts.length) {
    svg.appendChild(s('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'chart-empty' }, t('official.chartEmpty')));
    return svg;
  }
  const t0 = pts[0].time;
  let t1 = Math.max(pts[pts.length - 1].time, current && current.computed_at ? Date.parse(current.computed_at) || 0 : 0);
  if (t1 <= t0) t1 = t0 + 3600e3;
  const maxScore = Math.max(...pts.map((p) => Number(p.score)), current && current.score != null ? Number(current.score) : 0);
  const step = niceStep((maxScore || 1) / 4);
  const yMax = Math.max(step, Math.ceil(((maxScore || 1) * 1.05) / step) * step);
  const x = (tm) => pad.l + ((tm - t0) / (t1 - t0)) * (W - pad.l - pad.r);
  const y = (v) => pad.t + (1 - v / yMax) * (H - pad.t - pad.b);

  for (let v = 0; v <= yMax + 1e-9; v += step) {
    svg.appendChild(s('line', { x1: pad.l, x2: W - pad.r, y1: y(v), y2: y(v), class: 'chart-grid' }));
    svg.appendChild(s('text', { x: pad.l - 8, y: y(v) + 4, 'text-anchor': 'end', class: 'chart-axis' }, fmtNumber(v)));
  }
  svg.appendChild(s('text', { x: pad.l, y: H - 10, 'text-anchor': 'start', class: 'chart-axis' }, fmtDate(new Date(t0).toISOString())));
  svg.appendChild(s('text', { x: W - pad.r, y: H - 10, 'text-anchor': 'end', class: 'chart-axis' }, fmtDate(new Date(t1).toISOString())));

  let d = `M${x(pts[0].time).toFixed(1)},${y(Number(pts[0].score)).toFixed(1)}`;
  for (let i = 1; i < pts.length; i++) {
    d += ` H${x(pts[i].time).toFixed(1)} V${y(Number(pts[i].score)).toFixed(1)}`;
  }
  d += ` H${x(t1).toFixed(1)}`;
  svg.appendChild(s('path', { d, class: 'chart-line', fill: 'none' }));
  for (const p of pts) {
    const code = CODES.includes(p.code) ? p.code : 'unknown';
    svg.appendChild(s('circle', { cx: x(p.time).toFixed(1), cy: y(Number(p.score)).toFixed(1), r: 5, class: `chart-pt code-${code}`, 'data-code': code },
      s('title', null, `${fmtDateTime(p.at)} · ${t(`code.${code}`)} · ${fmtNumber(p.score)}`)));
  }
  return svg;
}

function niceStep(raw) {
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  const f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

// ---------------------------------------------------------------- warnings list

function dayToIso(day, endOfDay) {
  if (!day) return '';
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  if (!m) return '';
  const d = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + (endOfDay ? 1 : 0));
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

async function pageWarnings(main, route, alive) {
  setTitle(t('warnings.title'));
  const p = route.params;
  const f = {
    status: p.get('status') || '', level: p.get('level') || '', rule_id: p.get('rule_id') || '',
    official_id: p.get('official_id') || '', since: p.get('since') || '', until: p.get('until') || '',
  };
  const pg = pagingFor(route);
  const ruleOpts = [['', t('common.all')], ...[...state.rules.values()].map((r) => [r.rule_id, r.rule_id])];
  if (f.rule_id && !state.rules.has(f.rule_id)) ruleOpts.push([f.rule_id, f.rule_id]);
  const form = filterForm('warnings-filter', [
    selectField('filter-status', t('warnings.filterStatus'),
      [['', t('common.all')], ['open', t('status.open')], ['closed', t('status.closed')],
        ...STATUSES.map((x) => [x, t(`status.${x}`)])], f.status),
    selectField('filter-level', t('warnings.filterLevel'),
      [['', t('common.all')], ['red', t('code.red')], ['yellow', t('code.yellow')]], f.level),
    selectField('filter-rule', t('warnings.filterRule'), ruleOpts, f.rule_id),
    inputField('filter-official', t('warnings.filterOfficial'), f.official_id),
    inputField('filter-since', t('warnings.filterSince'), f.since, 'date'),
    inputField('filter-until', t('warnings.filterUntil'), f.until, 'date'),
  ], (form2) => {
    go(`#/warnings${query({
      status: $('#filter-status', form2).value,
      level: $('#filter-level', form2).value,
      rule_id: $('#filter-rule', form2).value,
      official_id: $('#filter-official', form2).value.trim(),
      since: $('#filter-since', form2).value,
      until: $('#filter-until', form2).value,
    })}`);
  }, '#/warnings');
  const results = h('div', { id: 'warnings-results' }, loading());
  main.replaceChildren(h('div', { class: 'page-head' }, h('h1', { text: t('warnings.title') })), form, results);

  const data = await api(`/v1/warnings${query({
    status: f.status, level: f.level, rule_id: f.rule_id, official_id: f.official_id,
    since: dayToIso(f.since, false), until: dayToIso(f.until, true),
    limit: PAGE_LIMIT, cursor: pg.cursor,
  })}`);
  if (!alive()) return;
  const rows = (data.items || []).map((w) => h('tr', { 'data-warning-id': w.warning_id },
    td(timeEl(w.detected_at || w.occurred_at)),
    td(codeBadge(w.level)),
    h('th', { scope: 'row' },
      warningLink(w.warning_id, w.title || w.warning_id),
      w.key && Object.keys(w.key).length ? h('div', { class: 'muted small', text: keyText(w.key) }) : null),
    td(ruleTitle(w.rule_id)),
    td(officialLink(w.official_id)),
    td([w.region || dash(), ' / ', w.org_unit || dash()]),
    td([statusBadge(w.status), w.escalated ? h('span', { class: 'pill pill-warn', text: t('warnings.escalated') }) : null]),
    td(w.case_id ? h('span', { class: 'mono small', text: w.case_id }) : dash())));
  results.replaceChildren(
    table('warnings', t('warnings.caption'), [
      t('warnings.detected'), t('warnings.level'), t('warnings.warning'), t('warnings.rule'),
      t('warnings.official'), t('warnings.place'), t('warnings.status'), t('warnings.case'),
    ], rows),
    pager(pg, data.next_cursor));
}

// ---------------------------------------------------------------- warning detail

async function pageWarning(main, route, alive) {
  const id = route.arg;
  setTitle(t('warning.title'));
  const w = await api(`/v1/warnings/${encodeURIComponent(id)}`);
  if (!alive()) return;
  setTitle(w.title || t('warning.title'));
  drawWarning(main, w, alive);
}

function drawWarning(main, w, alive, flash) {
  const rule = state.rules.get(w.rule_id);
  const head = h('div', { class: 'page-head' },
    h('p', { class: 'crumbs' }, h('a', { href: '#/warnings', text: `‹ ${t('nav.warnings')}` })),
    h('h1', { id: 'warning-title', text: w.title || w.warning_id }),
    h('p', { class: 'badges' },
      codeBadge(w.level, { id: 'warning-level', 'data-level': w.level }),
      ' ',
      statusBadge(w.status, { id: 'warning-status' }),
      w.escalated ? h('span', { class: 'pill pill-warn', id: 'warning-escalated', text: t('warning.escalated') }) : null));

  const facts = h('dl', { class: 'facts' },
    fact(t('warning.official'), officialLink(w.official_id, { id: 'warning-official' })),
    fact(t('warning.place'), `${w.region || dash()} / ${w.org_unit || dash()}`),
    fact(t('warning.rule'), [
      h('span', { text: w.rule_id, title: ruleDescription(w.rule_id) }),
      h('span', { class: 'muted small', text: ` ${t('warning.ruleVersion', { v: w.rule_version })}` })]),
    fact(t('warning.key'), keyText(w.key) || dash()),
    fact(t('warning.occurred'), timeEl(w.occurred_at)),
    fact(t('warning.detected'), timeEl(w.detected_at)),
    fact(t('warning.window'), w.window ? [timeEl(w.window.start), ' – ', timeEl(w.window.end)] : dash()),
    fact(t('warning.case'), w.case_id ? h('span', { class: 'mono', id: 'warning-case', text: w.case_id }) : dash()),
    fact(t('warning.trigger'), w.trigger_event_id ? h('span', { class: 'mono', text: w.trigger_event_id }) : dash()),
    fact(t('warning.id'), h('span', { class: 'mono', text: w.warning_id })));

  const summaryPanel = h('section', { class: 'panel summary-panel' }, facts,
    rule && rule.description ? h('p', { class: 'rule-desc', text: rule.description }) : null);

  // Why: measures and conditions
  const conds = w.conditions || [];
  const condRows = conds.map((c) => h('tr', { 'data-measure': c.measure },
    h('th', { scope: 'row', text: measureName(c.measure) }),
    td(fmtMeasure(w.rule_id, c.measure, c.value), 'num'),
    td(OPS[c.op] || c.op, 'op'),
    td(fmtMeasure(w.rule_id, c.measure, c.threshold), 'num')));
  const condLines = conds.map((c) => h('li', { class: 'mono' },
    `${c.measure} ${fmtMeasure(w.rule_id, c.measure, c.value)} ${c.op} ${fmtMeasure(w.rule_id, c.measure, c.threshold)}`));
  const measures = w.measures && typeof w.measures === 'object' ? Object.entries(w.measures) : [];
  const why = h('section', { class: 'panel', 'aria-labelledby': 'why-h' },
    h('h2', { id: 'why-h', text: t('warning.why') }),
    measures.length ? h('dl', { class: 'facts measures', id: 'measures' },
      measures.map(([m, v]) => fact(measureName(m), h('span', { 'data-measure': m, text: fmtMeasure(w.rule_id, m, v) })))) : null,
    table('conditions', t('warning.condCaption'),
      [t('warning.condMeasure'), t('warning.condValue'), t('warning.condOp'), t('warning.condThreshold')],
      condRows, t('warning.noConditions')),
    condLines.length ? h('ul', { id: 'conditions-text', class: 'cond-text' }, condLines) : null);
  markNumericHeads($('#conditions', why), [1, 3]);

  // Evidence
  const ev = w.evidence || {};
  const ids = ev.event_ids || [];
  // One row per listed id; the compact copy, where the warning carries one, fills it.
  const copies = new Map((Array.isArray(ev.events) ? ev.events : []).map((e) => [e.event_id, e]));
  const evRows = ids.map((eid) => {
    const e = copies.get(eid);
    if (!e) {
      return h('tr', { 'data-event-id': eid },
        h('th', { scope: 'row', class: 'mono', text: eid }), td(dash()), td(dash()), td(dash(), 'num'), td(dash()), td(dash()));
    }
    return h('tr', { 'data-event-id': eid },
      h('th', { scope: 'row', class: 'mono', text: eid }),
      td(e.kind || dash()),
      td(timeEl(e.occurred_at)),
      td(e.amount_cents === undefined || e.amount_cents === null ? dash() : fmtMoneyCents(e.amount_cents), 'num'),
      td(e.counterparty || dash()),
      td(attrsText(e.attributes) || dash(), 'small'));
  });
  const events = copies.size > 0;
  const shown = ids.length;
  const evidence = h('section', { class: 'panel', 'aria-labelledby': 'evidence-h' },
    h('h2', { id: 'evidence-h', text: t('warning.evidence') }),
    events ? null : h('p', { class: 'muted', text: t('warning.idsOnly') }),
    table('evidence', t('warning.evidenceCaption', { shown: fmtNumber(shown), total: fmtNumber(ev.total ?? ids.length) }), [
      t('warning.eventId'), t('warning.kind'), t('warning.time'), t('warning.amount'),
      t('warning.counterparty'), t('warning.attributes')], evRows));
  markNumericHeads($('#evidence', evidence), [3]);

  const histPanel = h('section', { class: 'panel', 'aria-labelledby': 'history-h' },
    h('h2', { id: 'history-h', text: t('warning.history') }),
    historyTable(w.history || []));

  const nodes = [head, summaryPanel, why, evidence];
  const canHandle = !!(state.session && state.session.can_handle);
  if (canHandle && (STATUS_RANK[w.status] ?? 0) < FINAL_RANK) {
    nodes.push(feedbackSection(main, w, alive, flash));
  }
  nodes.push(histPanel);
  main.replaceChildren(...nodes);
}

function historyTable(hist) {
  const rows = hist.map((x) => h('tr', { 'data-status': x.status },
    td(timeEl(x.at)),
    td(statusBadge(x.status)),
    td(x.handler || dash()),
    td(x.note ? h('span', { class: 'note', text: x.note }) : dash())));
  return table('history', t('warning.historyCaption'),
    [t('warning.time'), t('warning.status'), t('warning.handler'), t('warning.note')], rows);
}

function nextStatuses(current) {
  const rank = STATUS_RANK[current] ?? 0;
  return STATUSES.filter((x) => STATUS_RANK[x] > rank);
}

function feedbackSection(main, w, alive, flash) {
  const note = h('textarea', { id: 'feedback-note', name: 'note', rows: 3, maxlength: 2000 });
  const result = h('p', { id: 'feedback-result', role: 'status', 'aria-live': 'polite' });
  if (flash) { result.textContent = flash.text; if (flash.error) result.classList.add('error'); }
  const buttons = nextStatuses(w.status).map((st) => h('button', {
    type: 'button', class: `btn feedback feedback-${st}`, 'data-status': st, text: t(`feedback.do.${st}`),
  }));
  const section = h('section', { id: 'feedback', class: 'panel feedback-panel', 'aria-labelledby': 'feedback-h' },
    h('h2', { id: 'feedback-h', text: t('feedback.title') }),
    h('p', { class: 'muted', text: t('feedback.intro') }),
    h('div', { class: 'field field-wide' }, h('label', { for: 'feedback-note', text: t('feedback.note') }), note),
    h('div', { class: 'feedback-buttons', role: 'group', 'aria-label': t('feedback.title') }, buttons),
    result);

  for (const b of buttons) {
    b.addEventListener('click', async () => {
      const target = b.dataset.status;
      const body = { status: target };
      const text = note.value.trim();
      if (text) body.note = text;
      for (const x of buttons) x.disabled = true;
      note.disabled = true;
      result.classList.remove('error');
      result.textContent = t('feedback.sending');
      try {
        await api(`/v1/warnings/${encodeURIComponent(w.warning_id)}/feedback`, { method: 'POST', body });
      } catch (e) {
        if (e instanceof SignedOut || !alive()) return;
        result.classList.add('error');
        result.textContent = t('feedback.failed', { msg: e.message });
        for (const x of buttons) x.disabled = false;
        note.disabled = false;
        return;
      }
      if (!alive()) return;
      result.textContent = t('feedback.waiting');
      for (let i = 0; i < POLL_TRIES; i++) {
        await sleep(POLL_MS);
        if (!alive()) return;
        let fresh;
        try {
          fresh = await api(`/v1/warnings/${encodeURIComponent(w.warning_id)}`);
        } catch (e) {
          if (e instanceof SignedOut) return;
          continue;
        }
        if (!alive()) return;
        if (fresh.status === target) {
          applyFeedbackResult(main, fresh, alive, t('feedback.done', { status: t(`status.${target}`) }));
          return;
        }
      }
      if (!alive()) return;
      result.textContent = t('feedback.slow');
      for (const x of buttons) x.disabled = false;
      note.disabled = false;
    });
  }
  return section;
}

/** Redraw the warning after feedback took effect. The feedback section stays
 * (without buttons once the warning is closed) so the result stays readable. */
function applyFeedbackResult(main, fresh, alive, text) {
  const scrollY = window.scrollY;
  drawWarning(main, fresh, alive, { text });
  if (!$('#feedback', main)) {
    const hist = $('#history', main);
    const section = h('section', { id: 'feedback', class: 'panel feedback-panel', 'aria-labelledby': 'feedback-h' },
      h('h2', { id: 'feedback-h', text: t('feedback.title') }),
      h('p', { class: 'muted', text: t('feedback.closed') }),
      h('p', { id: 'feedback-result', role: 'status', 'aria-live': 'polite', text }));
    const histPanel = hist ? hist.closest('section') : null;
    if (histPanel) main.insertBefore(section, histPanel); else main.appendChild(section);
  }
  window.scrollTo(0, scrollY);
}

// ---------------------------------------------------------------- boot

const PAGES = {
  board: pageBoard,
  officials: pageOfficials,
  official: pageOfficial,
  warnings: pageWarnings,
  warning: pageWarning,
};

function boot() {
  readTokenFromHash();
  if (!state.token) loadToken();
  applyStatic();

  $('#lang').addEventListener('change', (ev) => {
    setLang(ev.target.value);
    applyStatic();
    if (state.token) render(); else showSignIn();
  });
  $('#sign-out').addEventListener('click', () => {
    signOut();
    history.replaceState(null, '', `${location.pathname}${location.search}#/board`);
  });
  $('#skip-link').addEventListener('click', (ev) => {
    ev.preventDefault();
    $('#main').focus();
  });
  window.addEventListener('hashchange', () => {
    if (/^#(.*&)?token=/.test(location.hash)) {
      readTokenFromHash();
      state.session = null;
    }
    render();
    $('#main').focus({ preventScroll: false });
  });
  if (!location.hash || location.hash === '#' || location.hash === '#/') {
    history.replaceState(null, '', `${location.pathname}${location.search}#/board`);
  }
  render();
}

boot();
