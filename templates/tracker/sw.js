/*
 * The service worker (served at /sw.js by tracker/offline.py; scope: the whole site).
 * It acts on the staff pages that work offline and their static files, nothing else:
 * - those pages: from the network, kept in the cache on the way; from the cache when
 *   the network fails (the page then says how old it is: offline.js);
 * - their static files: from the cache, kept at install;
 * - a quick form posted while the network fails: kept in the outbox (outbox.js) with
 *   the key the page gave it, answered with the page again (it shows the outbox);
 * - Background Sync's `tracker-outbox`: sends the outbox (outbox.js).
 * Everything else (public pages, the API, the admin) goes to the network untouched.
 * A page asks it to `warm` the cache: it fetches the pages of that language.
 */
'use strict';

var CONFIG = {{ config|safe }};
var CACHE = 'tracker-offline-' + CONFIG.version;

importScripts(CONFIG.outbox);

function offlinePages() {
  var pages = [];
  Object.keys(CONFIG.pages).forEach(function (lang) { pages = pages.concat(CONFIG.pages[lang]); });
  return pages;
}

function isOfflinePage(url) {
  return url.origin === self.location.origin && offlinePages().indexOf(url.pathname) !== -1;
}

function isOfflineStatic(url) {
  return url.origin === self.location.origin && CONFIG.static.indexOf(url.pathname) !== -1;
}

self.addEventListener('install', function (event) {
  event.waitUntil(caches.open(CACHE).then(function (cache) {
    return cache.addAll(CONFIG.static);
  }).then(function () { return self.skipWaiting(); }));
});

self.addEventListener('activate', function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (name) {
      return name.indexOf('tracker-offline-') === 0 && name !== CACHE;
    }).map(function (name) { return caches.delete(name); }));
  }).then(function () { return self.clients.claim(); }));
});

// Keep a page only as its logged-in person sees it: never a redirect to the login page or an error.
function keep(request, response) {
  if (!response.ok || response.redirected || response.type !== 'basic') return Promise.resolve();
  var url = new URL(request.url);
  return caches.open(CACHE).then(function (cache) {
    return cache.put(url.origin + url.pathname, response);
  });
}

function fromCache(url) {
  return caches.open(CACHE).then(function (cache) {
    return cache.match(url.origin + url.pathname);
  });
}

function page(event) {
  var url = new URL(event.request.url);
  return fetch(event.request).then(function (response) {
    event.waitUntil(keep(event.request, response.clone()));
    return response;
  }).catch(function (error) {
    return fromCache(url).then(function (cached) {
      if (!cached) throw error;
      // Marked, so the page knows it came from the device, whatever navigator.onLine says.
      return cached.text().then(function (text) {
        return new Response(text.replace('<html ', '<html data-served="device" '), {
          status: cached.status,
          headers: cached.headers,
        });
      });
    });
  });
}

function pairs(formData) {
  var fields = [];
  formData.forEach(function (value, name) {
    if (typeof value === 'string') fields.push([name, value]);
  });
  return fields;
}

// A quick form posted while the network fails: kept in the outbox under the page's key, then that page again.
function post(event) {
  var url = new URL(event.request.url);
  var copy = event.request.clone();
  return fetch(event.request).catch(function (error) {
    return copy.formData().then(function (formData) {
      var fields = pairs(formData);
      var key = formData.get('idempotency_key');
      var user = formData.get('outbox_user');
      if (!key || !user) throw error;
      return TrackerOutbox.put({
        key: key,
        user: Number(user),
        lang: url.pathname.split('/')[1],
        url: url.pathname,
        title: formData.get('outbox_title') || '',
        fields: fields,
        savedAt: new Date().toISOString(),
        status: 'waiting',
      }).then(function () {
        if (self.registration.sync) self.registration.sync.register('tracker-outbox').catch(function () {});
        return Response.redirect(url.pathname + '?kept=1', 303);
      });
    });
  });
}

self.addEventListener('fetch', function (event) {
  var request = event.request;
  var url = new URL(request.url);
  if (request.method === 'GET' && request.mode === 'navigate' && isOfflinePage(url)) {
    event.respondWith(page(event));
  } else if (request.method === 'GET' && isOfflineStatic(url)) {
    event.respondWith(caches.match(request).then(function (cached) { return cached || fetch(request); }));
  } else if (request.method === 'POST' && request.mode === 'navigate' && isOfflinePage(url)) {
    event.respondWith(post(event));
  }
});

function warm(lang) {
  var urls = CONFIG.pages[lang] || [];
  return Promise.all(urls.map(function (path) {
    var request = new Request(path, { credentials: 'same-origin', cache: 'no-store' });
    return fetch(request).then(function (response) { return keep(request, response); }).catch(function () {});
  }));
}

self.addEventListener('message', function (event) {
  var data = event.data || {};
  var port = event.ports && event.ports[0];
  var done = function (value) { if (port) port.postMessage(value); };
  if (data.type === 'warm') {
    event.waitUntil(warm(data.lang).then(function () { done({ warmed: true }); }));
  } else if (data.type === 'clear') {
    event.waitUntil(caches.keys().then(function (names) {
      return Promise.all(names.filter(function (name) { return name.indexOf('tracker-offline-') === 0; })
        .map(function (name) { return caches.delete(name); }));
    }).then(function () { done({ cleared: true }); }));
  }
});

self.addEventListener('sync', function (event) {
  if (event.tag !== 'tracker-outbox') return;
  event.waitUntil(caches.keys().then(function () {
    return TrackerOutbox.all();
  }).then(function (entries) {
    var langs = [];
    entries.forEach(function (entry) { if (langs.indexOf(entry.lang) === -1) langs.push(entry.lang); });
    return langs.reduce(function (done, lang) {
      return done.then(function () { return TrackerOutbox.sync(lang); });
    }, Promise.resolve());
  }));
});
