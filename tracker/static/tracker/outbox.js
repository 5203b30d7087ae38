/*
 * The device's outbox of quick-form entries (IndexedDB), shared by the staff pages
 * (offline.js) and the service worker (sw.js, for Background Sync).
 *
 * An entry is what the person saved: the form's fields, the form's address, an
 * Idempotency-Key made when they pressed save, and the time they did. Sending posts
 * it to its form with that key and `X-Tracker-Outbox: 1` (tracker/offline.py): the
 * server saves it once per key, so a resend after a lost answer never makes a copy.
 * One sender at a time on the device: the Web Locks API's lock `tracker-outbox`
 * (a tab, another tab, the worker), so two tabs never send one entry twice.
 */
(function (scope) {
  'use strict';

  var DB_NAME = 'tracker-outbox';
  var STORE = 'entries';
  var LOCK = 'tracker-outbox';
  var channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel('tracker-outbox') : null;

  function request(req) {
    return new Promise(function (resolve, reject) {
      req.onsuccess = function () { resolve(req.result); };
      req.onerror = function () { reject(req.error); };
    });
  }

  function open() {
    var req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = function () {
      req.result.createObjectStore(STORE, { keyPath: 'id', autoIncrement: true });
    };
    return request(req);
  }

  function withStore(mode, action) {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(STORE, mode);
        var result;
        Promise.resolve(action(tx.objectStore(STORE))).then(function (value) { result = value; });
        tx.oncomplete = function () { db.close(); resolve(result); };
        tx.onerror = function () { db.close(); reject(tx.error); };
        tx.onabort = function () { db.close(); reject(tx.error); };
      });
    });
  }

  function changed() {
    if (channel) channel.postMessage({ type: 'changed' });
    if (scope.TrackerOutbox.onchange) scope.TrackerOutbox.onchange();
  }

  function all() {
    return withStore('readonly', function (store) { return request(store.getAll()); });
  }

  function get(id) {
    return withStore('readonly', function (store) { return request(store.get(id)); });
  }

  function put(entry) {
    return withStore('readwrite', function (store) { return request(store.put(entry)); }).then(function (id) {
      changed();
      return id;
    });
  }

  function remove(id) {
    return withStore('readwrite', function (store) { return request(store.delete(id)); }).then(changed);
  }

  function newKey() {
    if (scope.crypto && scope.crypto.randomUUID) return scope.crypto.randomUUID();
    var bytes = new Uint8Array(16);
    scope.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ('0' + b.toString(16)).slice(-2); }).join('');
  }

  // Entries still to send, or kept for the person to correct: what logging out would lose.
  function unsent(entries) {
    return entries.filter(function (entry) { return entry.status !== 'saved'; });
  }

  function session(lang) {
    return fetch('/' + lang + '/staff/session/', {
      credentials: 'same-origin',
      headers: { 'X-Tracker-Outbox': '1', Accept: 'application/json' },
      cache: 'no-store',
    }).then(function (response) {
      var type = response.headers.get('Content-Type') || '';
      if (response.status === 401 || !response.ok || type.indexOf('application/json') === -1) return null;
      return response.json();
    });
  }

  // Send one entry; its new state is stored. Rejects (and changes nothing) when the network fails.
  function sendOne(entry, who) {
    var body = new URLSearchParams();
    entry.fields.forEach(function (pair) {
      if (pair[0] !== 'csrfmiddlewaretoken' && pair[0] !== 'idempotency_key') body.append(pair[0], pair[1]);
    });
    body.append('csrfmiddlewaretoken', who.csrf);
    return fetch(entry.url, {
      method: 'POST',
      credentials: 'same-origin',
      cache: 'no-store',
      redirect: 'manual',
      headers: {
        'Idempotency-Key': entry.key,
        'X-Tracker-Outbox': '1',
        'X-CSRFToken': who.csrf,
        Accept: 'application/json',
      },
      body: body,
    }).then(function (response) {
      var type = response.headers.get('Content-Type') || '';
      if (response.status === 401 || response.type === 'opaqueredirect') {
        entry.status = 'login';
        return put(entry);
      }
      if (response.status >= 500 || type.indexOf('application/json') === -1) {
        throw new Error('server ' + response.status);
      }
      return response.json().then(function (answer) {
        entry.sentAt = new Date().toISOString();
        if (answer.status === 'saved') {
          entry.status = 'saved';
          entry.result = { message: answer.message, url: answer.url };
        } else {
          entry.status = 'refused';
          entry.result = { errors: answer.errors || {}, labels: answer.labels || {} };
        }
        return put(entry);
      });
    });
  }

  function sendWaiting(lang) {
    return session(lang).then(function (who) {
      return all().then(function (entries) {
        var waiting = entries.filter(function (entry) {
          return entry.status === 'waiting' || entry.status === 'login';
        });
        if (!waiting.length) return { sent: 0 };
        if (!who) {
          // Logged out (or the login expired): every entry waits for the person to log in.
          return Promise.all(waiting.filter(function (entry) { return entry.status !== 'login'; }).map(function (entry) {
            entry.status = 'login';
            return put(entry);
          })).then(function () { return { login: true }; });
        }
        var sent = 0;
        // One at a time, oldest first; each is read again first, in case it changed meanwhile.
        return waiting.reduce(function (done, entry) {
          return done.then(function () {
            if (entry.user !== who.user) return null;  // another person's: theirs to send
            return get(entry.id).then(function (current) {
              if (!current || (current.status !== 'waiting' && current.status !== 'login')) return null;
              return sendOne(current, who).then(function () { sent += 1; });
            });
          });
        }, Promise.resolve()).then(function () { return { sent: sent }; });
      });
    });
  }

  // Send what waits, unless another tab (or the worker) is sending: it sends these too.
  function sync(lang) {
    if (scope.navigator && scope.navigator.locks) {
      return scope.navigator.locks.request(LOCK, { ifAvailable: true }, function (lock) {
        if (!lock) return { busy: true };
        return sendWaiting(lang);
      });
    }
    return sendWaiting(lang);
  }

  function clear() {
    return new Promise(function (resolve) {
      var req = indexedDB.deleteDatabase(DB_NAME);
      req.onsuccess = req.onerror = req.onblocked = function () { resolve(); };
    });  // no `changed`: a list drawn again now would open (and so make) the database again
  }

  scope.TrackerOutbox = {
    all: all,
    get: get,
    put: put,
    remove: remove,
    newKey: newKey,
    unsent: unsent,
    sync: sync,
    clear: clear,
    channel: channel,
    onchange: null,
  };
})(self);
