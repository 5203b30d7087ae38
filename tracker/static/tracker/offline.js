/*
 * The staff pages offline (README, "Offline field entry"): registers the service worker
 * (/sw.js) and has it keep this language's staff pages; says when the device is
 * offline and how old the page's lists are; keeps a quick form saved offline in the
 * outbox (outbox.js) and sends it when the connection returns (on `online`, on page
 * load, and by Background Sync in the worker); lists the outbox with each entry's
 * answer; a refused entry can be corrected (its form, filled again) and resent; logging
 * out deletes the device's copies after a warning when something was not sent.
 * Without JavaScript the pages work as before, online only.
 */
(function () {
  'use strict';

  var Outbox = window.TrackerOutbox;
  var root = document.documentElement;
  var lang = root.lang || 'en';
  var stringsNode = document.getElementById('offline-strings');
  var strings = stringsNode ? JSON.parse(stringsNode.textContent) : {};
  var userMeta = document.querySelector('meta[name="tracker-user"]');
  var user = userMeta && userMeta.content ? Number(userMeta.content) : null;
  var renderedMeta = document.querySelector('meta[name="tracker-rendered-at"]');
  var renderedAt = renderedMeta ? new Date(renderedMeta.content) : new Date();
  // A page older than this was kept on the device, not just rendered.
  var STALE_MS = 60 * 1000;
  var WARM_EVERY_MS = 5 * 60 * 1000;
  // How often a page that cannot reach the server tries again (navigator.onLine is often wrong in the field).
  var PROBE_EVERY_MS = 5 * 1000;
  var ready = false;
  var message = '';
  var unsentCount = 0;
  var offline = !navigator.onLine || root.getAttribute('data-served') === 'device';

  function format(text, values) {
    return text.replace(/%\((\w+)\)s/g, function (_, name) { return values[name]; });
  }

  function plural(forms, n) {
    var category = new Intl.PluralRules(lang).select(n);
    return format(forms[category] || forms.other, { n: n });
  }

  function time(date) {
    return new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeStyle: 'short' }).format(date);
  }

  function ago(ms) {
    var rtf = new Intl.RelativeTimeFormat(lang, { numeric: 'auto' });
    var minutes = Math.round(ms / 60000);
    if (minutes < 60) return rtf.format(-minutes, 'minute');
    var hours = Math.round(minutes / 60);
    if (hours < 48) return rtf.format(-hours, 'hour');
    return rtf.format(-Math.round(hours / 24), 'day');
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    (children || []).forEach(function (child) {
      node.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
    });
    return node;
  }

  // --- Connection and the age of the page's lists ------------------------------------

  function showStatus() {
    var status = document.getElementById('offline-status');
    if (!status) return;
    var online = !offline;
    var age = Date.now() - renderedAt.getTime();
    var parts = [];
    if (!online) parts.push(strings.offline);
    if (!online || age > STALE_MS) parts.push(format(strings.dataAge, { time: time(renderedAt), ago: ago(age) }));
    if (message) parts.push(message);
    if (online && ready && !message && age <= STALE_MS) parts.push(strings.ready);
    root.setAttribute('data-connection', online ? 'online' : 'offline');
    status.textContent = parts.join(' ');
    status.hidden = parts.length === 0;
    status.classList.toggle('is-offline', !online);
  }

  // --- The service worker --------------------------------------------------------------

  function ask(worker, data) {
    return new Promise(function (resolve) {
      var channel = new MessageChannel();
      channel.port1.onmessage = function (event) { resolve(event.data); };
      worker.postMessage(data, [channel.port2]);
    });
  }

  function keptPages() {
    if (!window.caches) return Promise.resolve(0);
    var links = Array.prototype.slice.call(document.querySelectorAll('a[data-offline]'));
    return caches.keys().then(function (names) {
      var name = names.filter(function (n) { return n.indexOf('tracker-offline-') === 0; })[0];
      if (!name) return 0;
      return caches.open(name).then(function (cache) {
        return Promise.all(links.map(function (link) {
          return cache.match(new URL(link.href).origin + new URL(link.href).pathname);
        }));
      }).then(function (found) { return found.filter(Boolean).length === links.length ? links.length : 0; });
    });
  }

  function warm() {
    var key = 'tracker-offline-warmed';
    var last = {};
    if (!('serviceWorker' in navigator)) return Promise.resolve();
    try { last = JSON.parse(localStorage.getItem(key) || '{}'); } catch (e) { last = {}; }
    return navigator.serviceWorker.ready.then(function (registration) {
      return keptPages().then(function (kept) {
        var fresh = kept && last.user === user && last.lang === lang && Date.now() - last.at < WARM_EVERY_MS;
        if (fresh || offline) return kept > 0;
        return ask(registration.active, { type: 'warm', lang: lang }).then(function () {
          localStorage.setItem(key, JSON.stringify({ user: user, lang: lang, at: Date.now() }));
          return true;
        });
      });
    }).then(function (isReady) {
      ready = isReady;
      if (ready) root.setAttribute('data-offline-ready', 'true');
      showStatus();
    });
  }

  function registerWorker() {
    if (!('serviceWorker' in navigator)) return;
    navigator.serviceWorker.register('/sw.js', { scope: '/' }).then(warm).catch(function () {});
  }

  function askForBackgroundSync() {
    if (!('serviceWorker' in navigator)) return;
    navigator.serviceWorker.ready.then(function (registration) {
      if (registration.sync) return registration.sync.register('tracker-outbox');
      return null;
    }).catch(function () {});
  }

  // --- The outbox --------------------------------------------------------------------

  function entryItem(entry) {
    var statusText = {
      waiting: strings.statusWaiting,
      login: strings.statusLogin,
      saved: strings.statusSaved,
      refused: strings.statusRefused,
    }[entry.status];
    var item = el('li', { 'class': 'outbox-entry outbox-' + entry.status, 'data-key': entry.key }, [
      el('strong', {}, [entry.title || entry.url]),
      ' — ' + statusText + ' (' + format(strings.enteredAt, { time: time(new Date(entry.savedAt)) }) + ')',
    ]);
    var result = entry.result || {};
    if (entry.status === 'saved') {
      item.appendChild(el('p', {}, [result.message || '']));
      if (result.url) item.appendChild(el('a', { href: result.url }, [strings.open]));
    } else if (entry.status === 'refused') {
      var errors = el('ul', { 'class': 'errorlist' });
      Object.keys(result.errors || {}).forEach(function (field) {
        var label = field === '__all__' ? '' : ((result.labels || {})[field] || field) + ': ';
        result.errors[field].forEach(function (text) { errors.appendChild(el('li', {}, [label + text])); });
      });
      item.appendChild(errors);
      item.appendChild(el('a', { href: entry.url + '?outbox=' + entry.id, 'class': 'outbox-correct' }, [strings.correct]));
      item.appendChild(document.createTextNode(' '));
      var remove = el('button', { type: 'button', 'class': 'link-button' }, [strings.remove]);
      remove.addEventListener('click', function () { Outbox.remove(entry.id).then(render); });
      item.appendChild(remove);
    } else if (entry.status === 'login') {
      item.appendChild(el('p', {}, [
        strings.login + ' ',
        el('a', { href: '/' + lang + '/staff/login/?next=' + encodeURIComponent(location.pathname) }, [strings.loginLink]),
      ]));
    }
    return item;
  }

  function render() {
    var section = document.getElementById('outbox');
    if (!section || !Outbox) return Promise.resolve();
    return Outbox.all().then(function (entries) {
      unsentCount = Outbox.unsent(entries).length;
      entries = entries.filter(function (entry) { return entry.user === user; });
      var waiting = entries.filter(function (e) { return e.status === 'waiting' || e.status === 'login'; }).length;
      var refused = entries.filter(function (e) { return e.status === 'refused'; }).length;
      var summary = [waiting ? plural(strings.waiting, waiting) : strings.nothingWaiting];
      if (refused) summary.push(plural(strings.refused, refused));
      document.getElementById('outbox-summary').textContent = summary.join('. ') + '.';
      var list = document.getElementById('outbox-list');
      list.textContent = '';
      entries.slice().reverse().forEach(function (entry) { list.appendChild(entryItem(entry)); });
      if (entries.some(function (e) { return e.status === 'saved'; })) {
        var clear = el('button', { type: 'button', 'class': 'link-button' }, [strings.clearSaved]);
        clear.addEventListener('click', function () {
          Promise.all(entries.filter(function (e) { return e.status === 'saved'; }).map(function (e) {
            return Outbox.remove(e.id);
          })).then(render);
        });
        list.appendChild(el('li', {}, [clear]));
      }
      section.hidden = entries.length === 0;
    });
  }

  var syncing = null;
  function sync() {
    if (!Outbox || offline) return Promise.resolve();
    if (syncing) return syncing;
    syncing = Outbox.sync(lang).catch(function (error) {
      if (error instanceof TypeError) setOffline(true);  // the network failed on the way
    }).then(function () {
      syncing = null;
      return render();
    });
    return syncing;
  }

  function setOffline(value) {
    var changed = offline !== value;
    offline = value;
    showStatus();
    if (changed && !offline) {
      sync();
      warm().catch(function () {});
    }
  }

  // Can the server be reached? Any answer says yes; only a failed request says no.
  function probe() {
    return fetch('/' + lang + '/staff/session/', {
      credentials: 'same-origin', cache: 'no-store', headers: { 'X-Tracker-Outbox': '1' },
    }).then(function () { setOffline(false); }, function () { setOffline(true); });
  }

  // --- The quick forms ---------------------------------------------------------------

  function pairs(form) {
    var fields = [];
    new FormData(form).forEach(function (value, name) {
      if (typeof value === 'string') fields.push([name, value]);
    });
    return fields;
  }

  function hidden(form, name, value) {
    var input = form.querySelector('input[type="hidden"][name="' + name + '"]');
    if (!input) {
      input = el('input', { type: 'hidden', name: name });
      form.appendChild(input);
    }
    input.value = value;
  }

  // "Now" as a wall-clock time at the chosen site, for a form kept since an earlier day.
  function localNow(zone) {
    var parts = {};
    new Intl.DateTimeFormat('en-CA', {
      timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
      hourCycle: 'h23',
    }).formatToParts(new Date()).forEach(function (part) { parts[part.type] = part.value; });
    return parts.year + '-' + parts.month + '-' + parts.day + 'T' + parts.hour + ':' + parts.minute;
  }

  function refreshTimes(form) {
    var zonesNode = document.getElementById('site-zones');
    var zones = zonesNode ? JSON.parse(zonesNode.textContent) : {};
    var place = form.elements[form.getAttribute('data-zone-field')];
    var zone = (place && zones[place.value]) || form.getAttribute('data-default-zone') || undefined;
    form.querySelectorAll('input[type="datetime-local"][required]').forEach(function (input) {
      if (input.value === input.defaultValue) {
        try { input.value = localNow(zone); } catch (e) { /* an unknown zone: keep the page's time */ }
      }
    });
  }

  function fill(form, fields) {
    form.querySelectorAll('input[type="checkbox"], input[type="radio"]').forEach(function (input) {
      input.checked = false;
    });
    fields.forEach(function (pair) {
      var name = pair[0];
      var value = pair[1];
      if (name === 'csrfmiddlewaretoken') return;
      form.querySelectorAll('[name="' + name + '"]').forEach(function (input) {
        if (input.type === 'checkbox' || input.type === 'radio') {
          if (input.value === value) input.checked = true;
        } else {
          input.value = value;
        }
      });
    });
  }

  function showErrors(form, entry) {
    var result = entry.result || {};
    var box = el('div', { 'class': 'form-errors', role: 'alert', id: 'outbox-errors' }, [
      el('p', {}, [el('strong', {}, [strings.correcting])]),
    ]);
    var list = el('ul', { 'class': 'errorlist' });
    Object.keys(result.errors || {}).forEach(function (field) {
      var label = field === '__all__' ? '' : ((result.labels || {})[field] || field) + ': ';
      result.errors[field].forEach(function (text) { list.appendChild(el('li', {}, [label + text])); });
    });
    box.appendChild(list);
    form.insertBefore(box, form.firstChild);
  }

  function setUpForm(form) {
    var correcting = null;
    var key = null;
    var title = (document.querySelector('main h1') || {}).textContent || '';
    var wanted = new URLSearchParams(location.search).get('outbox');
    if (Date.now() - renderedAt.getTime() > STALE_MS) refreshTimes(form);
    if (wanted && Outbox) {
      Outbox.get(Number(wanted)).then(function (entry) {
        if (!entry || entry.user !== user) return;
        correcting = entry;
        fill(form, entry.fields);
        showErrors(form, entry);
      });
    }
    // One key per thing typed: a second tap on save sends the same key (saved once); a change makes a new one.
    form.addEventListener('input', function () { key = null; });
    form.addEventListener('submit', function (event) {
      if (!Outbox || user === null) return;
      key = key || Outbox.newKey();
      hidden(form, 'idempotency_key', key);
      hidden(form, 'outbox_user', String(user));
      hidden(form, 'outbox_title', title.trim());
      // Online, a new entry is posted as a page (the worker keeps it if the network fails on the way).
      if (!offline && !correcting) return;
      event.preventDefault();
      var entry = correcting || {
        user: user,
        lang: lang,
        url: location.pathname,
        title: title.trim(),
        savedAt: new Date().toISOString(),
      };
      entry.key = key;
      entry.fields = pairs(form);
      entry.status = 'waiting';
      entry.result = null;
      if (correcting) entry.correctedAt = new Date().toISOString();
      key = null;
      if (!correcting) {
        // Cleared at once, so that what is typed next is the next entry's.
        form.reset();
        refreshTimes(form);
      }
      Outbox.put(entry).then(function () {
        askForBackgroundSync();
        if (correcting) {
          location.assign(location.pathname);
          return;
        }
        message = strings.kept;
        showStatus();
        render().then(sync);
      });
    });
  }

  // --- Logging out ---------------------------------------------------------------------

  function clearDevice() {
    var clearCaches = window.caches ? caches.keys().then(function (names) {
      return Promise.all(names.filter(function (n) { return n.indexOf('tracker-offline-') === 0; })
        .map(function (n) { return caches.delete(n); }));
    }) : Promise.resolve();
    try { localStorage.removeItem('tracker-offline-warmed'); } catch (e) { /* private mode */ }
    return Promise.all([clearCaches, Outbox ? Outbox.clear() : null]);
  }

  // The logout's answer clears the device too (Clear-Site-Data, tracker/offline.py): without
  // anything unsent, logging out is not held up; with some, the person is asked first.
  function setUpLogout(form) {
    form.addEventListener('submit', function (event) {
      if (!unsentCount) {
        clearDevice();
        return;
      }
      event.preventDefault();
      if (!window.confirm(plural(strings.logoutWarning, unsentCount))) return;
      clearDevice().then(function () { form.submit(); });
    });
  }

  // --- Start ---------------------------------------------------------------------------

  document.querySelectorAll('form[data-outbox]').forEach(setUpForm);
  document.querySelectorAll('form[action$="/staff/logout/"]').forEach(setUpLogout);
  if (Outbox) {
    Outbox.onchange = render;
    if (Outbox.channel) Outbox.channel.onmessage = function () { render(); };
  }
  if (new URLSearchParams(location.search).get('kept')) message = strings.kept;
  window.addEventListener('online', probe);
  window.addEventListener('offline', function () { setOffline(true); });
  window.setInterval(function () { if (offline) probe(); }, PROBE_EVERY_MS);
  showStatus();
  render().then(function () { return offline ? probe() : sync(); });
  registerWorker();
})();
