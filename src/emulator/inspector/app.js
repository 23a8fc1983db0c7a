// wpsgate-emulator inspector: the snapshot (GET /inspector/api/snapshot) and then the live entries
// (Server-Sent Events, GET /inspector/api/events). Plain JavaScript, no framework. Every value from
// the emulator is shown through textContent: message bodies with HTML in them stay text.
'use strict';

(function () {
  const MAX_ROWS = 2000; // rows kept in the page, whatever the emulator keeps
  const state = { hubs: new Map(), entries: [], lastId: 0, limits: null };
  const $ = (id) => document.getElementById(id);

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function filters() {
    return { hub: $('f-hub').value.trim(), group: $('f-group').value.trim(), user: $('f-user').value.trim() };
  }

  function connMatches(c, f) {
    if (f.hub && c.hub.toLowerCase() !== f.hub.toLowerCase()) return false;
    if (f.user && c.userId !== f.user) return false;
    if (f.group && !(c.groups || []).includes(f.group)) return false;
    return true;
  }

  function entryGroup(e) {
    if (e.group) return e.group;
    if (e.kind === 'send' && e.to && e.to.type === 'group') return e.to.id;
    return null;
  }

  function entryUser(e) {
    if (e.userId) return e.userId;
    if (e.kind === 'send') return e.to && e.to.type === 'user' ? e.to.id : e.fromUser;
    return null;
  }

  function entryMatches(e, f) {
    if (f.hub && (!e.hub || e.hub.toLowerCase() !== f.hub.toLowerCase())) return false;
    if (f.group && entryGroup(e) !== f.group) return false;
    if (f.user && entryUser(e) !== f.user) return false;
    return true;
  }

  // ---- connections ----
  function hubOf(name) {
    const key = name.toLowerCase();
    if (!state.hubs.has(key)) state.hubs.set(key, { name, conns: new Map() });
    return state.hubs.get(key);
  }

  function fmtTime(ms) {
    const d = new Date(ms);
    return d.toLocaleTimeString(undefined, { hour12: false }) + '.' + String(d.getMilliseconds()).padStart(3, '0');
  }

  function renderHubs() {
    const f = filters();
    const root = $('hubs');
    root.replaceChildren();
    let total = 0;
    const hubs = [...state.hubs.values()].sort((a, b) => a.name.localeCompare(b.name));
    for (const h of hubs) {
      if (f.hub && h.name.toLowerCase() !== f.hub.toLowerCase()) continue;
      const conns = [...h.conns.values()].filter((c) => connMatches(c, f));
      const box = el('div', 'hub');
      box.dataset.hub = h.name;
      box.append(el('h3', null, `${h.name} (${conns.length} connection${conns.length === 1 ? '' : 's'})`));
      if (conns.length) {
        const t = el('table', 'conns');
        const hr = el('tr');
        for (const x of ['connection', 'userId', 'groups', 'protocol', 'subprotocol', 'roles', 'connected'])
          hr.append(el('th', null, x));
        const th = el('thead');
        th.append(hr);
        t.append(th);
        const tb = el('tbody');
        for (const c of conns) {
          const tr = el('tr', 'conn');
          tr.dataset.connId = c.id;
          tr.append(el('td', 'c-id', c.id), el('td', 'c-user', c.userId ?? '—'),
            el('td', 'c-groups', (c.groups || []).join(', ')), el('td', 'c-proto', c.protocol),
            el('td', 'c-sub', c.subprotocol ?? '—'), el('td', 'c-roles', (c.roles || []).join(', ')),
            el('td', 'c-time', fmtTime(c.connectedAt)));
          tb.append(tr);
        }
        t.append(tb);
        box.append(t);
      } else {
        box.append(el('div', 'empty', 'no connections'));
      }
      total += conns.length;
      root.append(box);
    }
    if (!root.childElementCount) root.append(el('div', 'empty', 'no hubs yet'));
    $('conn-count').textContent = `(${total})`;
  }

  function applyToConns(e) {
    if (e.kind === 'conn.open' && e.conn) {
      hubOf(e.conn.hub).conns.set(e.conn.id, e.conn);
      // an entry lists a few groups and roles; the snapshot has them all
      if (e.conn.moreGroups || e.conn.moreRoles) refreshConns();
    } else if (e.kind === 'conn.close') {
      const h = state.hubs.get((e.hub || '').toLowerCase());
      if (h) h.conns.delete(e.connection);
    } else if (e.kind === 'group.join' || e.kind === 'group.leave') {
      const h = state.hubs.get((e.hub || '').toLowerCase());
      const c = h && h.conns.get(e.connection);
      if (!c) return false;
      const g = new Set(c.groups || []);
      if (e.kind === 'group.join') g.add(e.group); else g.delete(e.group);
      c.groups = [...g];
    } else {
      return false;
    }
    return true;
  }

  let refreshing = null;
  function refreshConns() {
    if (refreshing) return;
    refreshing = setTimeout(async () => {
      try {
        const r = await fetch(`/inspector/api/snapshot?after=${state.lastId}`, { cache: 'no-store' });
        if (r.ok) {
          const s = await r.json();
          state.hubs.clear();
          for (const h of s.hubs) {
            const hub = hubOf(h.name);
            for (const c of h.connections) hub.conns.set(c.id, c);
          }
          renderHubs();
        }
      } catch { /* the stream's error handler reloads */ }
      refreshing = null;
    }, 200);
  }

  // ---- the log ----
  function describe(e) {
    const short = (id) => (id ? String(id) : '');
    switch (e.kind) {
      case 'rest':
        return { who: 'app (REST)', what: `${e.method} ${e.path}`, detail: `${e.status}`, bad: e.status >= 400 };
      case 'send': {
        const to = e.to.type === 'all' ? 'everyone' : `${e.to.type} ${e.to.id}`;
        return { who: e.fromUser ? `user ${e.fromUser}` : 'app', what: `to ${to} (${e.recipients} recipient${e.recipients === 1 ? '' : 's'}, ${e.size} B ${e.dataType})`, detail: e.preview };
      }
      case 'client': {
        // a group, or an event's name (a JSON client's event, an MQTT publish to the events topic)
        const target = e.group ? ` ${e.group}` : e.event && e.type !== 'message' ? ` event ${e.event}` : '';
        return { who: `${short(e.connection)}${e.userId ? ' (' + e.userId + ')' : ''}`, what: `${e.type}${target}`, detail: e.preview };
      }
      case 'event':
        return { who: short(e.connection), what: `event ${e.event}`, detail: e.status ? `${e.status} in ${e.ms} ms` : `no answer: ${e.error || '?'} (${e.ms} ms)`, bad: !e.status || e.status >= 400 };
      case 'conn.open':
        return { who: `${short(e.connection)}${e.userId ? ' (' + e.userId + ')' : ''}`, what: 'connected', detail: e.conn ? `${e.conn.protocol}${e.conn.subprotocol ? ' ' + e.conn.subprotocol : ''}` : '' };
      case 'conn.close':
        return { who: `${short(e.connection)}${e.userId ? ' (' + e.userId + ')' : ''}`, what: 'disconnected', detail: e.reason };
      case 'group.join':
      case 'group.leave':
        return { who: short(e.connection), what: `${e.kind === 'group.join' ? 'joined' : 'left'} ${e.group}`, detail: '' };
      default:
        return { who: '', what: e.kind, detail: '' };
    }
  }

  function row(e) {
    const d = describe(e);
    const tr = el('tr', `entry k-${e.kind.split('.')[0]}${d.bad ? ' bad' : ''}`);
    tr.dataset.id = e.id;
    tr.dataset.kind = e.kind;
    tr.append(el('td', 'e-time', fmtTime(e.ts)), el('td', 'e-kind', e.kind), el('td', 'e-hub', e.hub ?? ''),
      el('td', 'e-who', d.who), el('td', 'e-what', d.what), el('td', 'e-detail preview', d.detail ?? ''));
    return tr;
  }

  function renderLog() {
    const f = filters();
    const body = $('log-body');
    const rows = state.entries.filter((e) => entryMatches(e, f)).map(row);
    body.replaceChildren(...rows);
    $('log-count').textContent = `(${rows.length} of ${state.entries.length})`;
  }

  function addEntry(e) {
    if (e.id <= state.lastId) return;
    state.lastId = e.id;
    state.entries.push(e);
    if (state.entries.length > MAX_ROWS) state.entries.splice(0, state.entries.length - MAX_ROWS);
    if (applyToConns(e)) renderHubs();
    if ($('f-pause').checked) return;
    const body = $('log-body');
    if (entryMatches(e, filters())) {
      const sec = $('log-section');
      const atEnd = sec.scrollTop + sec.clientHeight >= sec.scrollHeight - 4;
      body.append(row(e));
      while (body.childElementCount > MAX_ROWS) body.firstElementChild.remove();
      if (atEnd) sec.scrollTop = sec.scrollHeight;
    }
    $('log-count').textContent = `(${body.childElementCount} of ${state.entries.length})`;
  }

  function setStatus(s, text) {
    const st = $('status');
    st.dataset.state = s;
    st.textContent = text;
  }

  // ---- loading and the stream ----
  let es = null;
  let interrupted = false;

  async function load() {
    const r = await fetch('/inspector/api/snapshot', { cache: 'no-store' });
    if (!r.ok) throw new Error(`snapshot: HTTP ${r.status}`);
    const s = await r.json();
    state.hubs.clear();
    for (const h of s.hubs) {
      const hub = hubOf(h.name);
      for (const c of h.connections) hub.conns.set(c.id, c);
    }
    state.entries = s.entries.slice(-MAX_ROWS);
    state.lastId = s.lastId;
    state.limits = s.limits;
    $('limits').textContent = `The emulator keeps the last ${s.limits.entries} entries; ${s.limits.watchers} pages may watch at once, each with a backlog of ${s.limits.backlogBytes} bytes.`;
    renderHubs();
    renderLog();
    stream();
  }

  function stream() {
    if (es) es.close();
    es = new EventSource(`/inspector/api/events?after=${state.lastId}`);
    es.onopen = () => {
      setStatus('live', 'live');
      // back after an interruption: the emulator may have restarted (ids start again at 1), so the
      // page starts again from a snapshot
      if (interrupted) {
        interrupted = false;
        load().catch(() => {});
      }
    };
    es.onmessage = (m) => {
      let e;
      try { e = JSON.parse(m.data); } catch { return; }
      addEntry(e);
    };
    es.onerror = () => {
      interrupted = true;
      // EventSource reconnects by itself with Last-Event-ID; a closed stream (dropped as too slow,
      // or the emulator restarted) is reloaded from the snapshot
      setStatus('down', 'disconnected, retrying…');
      if (es.readyState === EventSource.CLOSED) setTimeout(() => load().catch(() => {}), 2000);
    };
  }

  // the filters live in the page's URL too (?hub=&group=&user=), so that a view can be bookmarked
  function filtersFromUrl() {
    const q = new URLSearchParams(location.search);
    for (const k of ['hub', 'group', 'user']) if (q.has(k)) $(`f-${k}`).value = q.get(k);
  }

  function filtersToUrl() {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(filters())) if (v) q.set(k, v);
    const s = q.toString();
    history.replaceState(null, '', s ? `?${s}` : location.pathname);
  }

  document.addEventListener('DOMContentLoaded', () => {
    filtersFromUrl();
    for (const id of ['f-hub', 'f-group', 'f-user']) $(id).addEventListener('input', () => { filtersToUrl(); renderHubs(); renderLog(); });
    $('f-pause').addEventListener('change', renderLog);
    $('filters').addEventListener('submit', (ev) => ev.preventDefault());
    $('clear').addEventListener('click', () => { state.entries = []; renderLog(); });
    load().catch((err) => { setStatus('down', String(err.message || err)); setTimeout(() => load().catch(() => {}), 2000); });
  });
})();
