"use strict";
exports.id = 64;
exports.ids = [64];
exports.modules = {

/***/ 6064:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

__webpack_require__.r(__webpack_exports__);
/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   DEFAULT_LIMITS: () => (/* binding */ DEFAULT_LIMITS),
/* harmony export */   GITHUB_API_VERSION: () => (/* binding */ GITHUB_API_VERSION),
/* harmony export */   createOctokit: () => (/* binding */ createOctokit)
/* harmony export */ });
/* harmony import */ var _actions_github__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(7502);
/* harmony import */ var _octokit_plugin_retry__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(2743);
/* harmony import */ var _octokit_plugin_throttling__WEBPACK_IMPORTED_MODULE_4__ = __webpack_require__(4808);
/* harmony import */ var undici__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(2480);
/* harmony import */ var _proxy_js__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(7193);
/**
 * The one place that builds an Octokit: `@actions/github`'s, with the retry and throttling
 * plugins, GitHub's API version pinned, every attempt timed out, and requests routed through the
 * proxy the typed settings name (callers read the environment, this module never does).
 *
 * Waits are bounded: a request is retried at most `retries` times, and a rate limit whose reset
 * is further away than `maxWaitSeconds` fails the call instead of waiting.
 */





const DEFAULT_LIMITS = {
    retries: 3,
    maxWaitSeconds: 60,
    secondMs: 1000,
    attemptTimeoutMs: 30_000
};
const GITHUB_API_VERSION = '2022-11-28';
/** Statuses the retry plugin leaves alone: a client error, or a rate limit (throttling's). */
const DO_NOT_RETRY = [400, 401, 403, 404, 410, 422, 429, 451];
function proxyDispatcher(apiUrl, settings = {}) {
    const proxy = (0,_proxy_js__WEBPACK_IMPORTED_MODULE_2__/* .proxyFor */ .i)(new URL(apiUrl), settings);
    if (!proxy)
        return undefined;
    const credentials = proxy.username || proxy.password
        ? `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`
        : undefined;
    return new undici__WEBPACK_IMPORTED_MODULE_1__.ProxyAgent({
        uri: proxy.href,
        ...(credentials ? { token: `Basic ${Buffer.from(credentials).toString('base64')}` } : {})
    });
}
/** fetch through `dispatcher` (direct when undefined), each attempt limited to `timeoutMs`. */
function timedFetch(dispatcher, timeoutMs) {
    const attempt = (url, init = {}) => {
        const timeout = AbortSignal.timeout(timeoutMs);
        const signal = init.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
        return (0,undici__WEBPACK_IMPORTED_MODULE_1__.fetch)(url, {
            ...init,
            signal,
            ...(dispatcher ? { dispatcher } : {})
        });
    };
    return attempt;
}
function octokitLog(log) {
    const text = (message, extra) => [message, ...extra.map(x => (typeof x === 'string' ? x : JSON.stringify(x)))].join(' ');
    const quiet = () => { };
    return {
        debug: log ? (m, ...x) => log.debug(text(m, x)) : quiet,
        info: log ? (m, ...x) => log.debug(text(m, x)) : quiet,
        warn: log ? (m, ...x) => log.warn(text(m, x)) : quiet,
        error: log ? (m, ...x) => log.error(text(m, x)) : quiet
    };
}
/**
 * The throttling plugin spaces every write 1 s apart, and content that notifies people 3 s
 * (GitHub's advice for clients making many). A run makes a handful, and a rollback's notice
 * should not wait: they go at once, and a secondary rate limit, if one comes, is waited out.
 */
const UNPACED = {
    key: () => ({
        schedule: (_options, job, ...args) => Promise.resolve(job(...args))
    })
};
/** The throttling plugin's handler: wait and retry while within the limits, else give up. */
function onLimit(kind, limits, log) {
    return (retryAfter, request, _o, n) => {
        const what = `${request.method} ${request.url}`;
        if (n >= limits.retries || retryAfter > limits.maxWaitSeconds) {
            log?.warn(`GitHub ${kind} on ${what}: not waiting ${retryAfter}s more (tried ${n + 1} times)`);
            return false;
        }
        log?.warn(`GitHub ${kind} on ${what}: retrying in ${retryAfter}s`);
        return true;
    };
}
function createOctokit(options) {
    const limits = { ...DEFAULT_LIMITS, ...options.limits };
    const baseUrl = options.apiUrl.replace(/\/+$/, '');
    const octokit = (0,_actions_github__WEBPACK_IMPORTED_MODULE_0__/* .getOctokit */ .Q)(options.token, {
        baseUrl,
        userAgent: 'emergency-rollback',
        log: octokitLog(options.log),
        request: {
            fetch: timedFetch(proxyDispatcher(baseUrl, options.proxy), limits.attemptTimeoutMs)
        },
        retry: {
            retries: limits.retries,
            doNotRetry: DO_NOT_RETRY,
            retryAfterBaseValue: limits.secondMs
        },
        throttle: {
            id: baseUrl,
            write: UNPACED,
            notifications: UNPACED,
            retryAfterBaseValue: limits.secondMs,
            fallbackSecondaryRateRetryAfter: limits.maxWaitSeconds,
            onRateLimit: onLimit('rate limit', limits, options.log),
            onSecondaryRateLimit: onLimit('secondary rate limit', limits, options.log)
        }
    }, _octokit_plugin_retry__WEBPACK_IMPORTED_MODULE_3__/* .retry */ .L, _octokit_plugin_throttling__WEBPACK_IMPORTED_MODULE_4__/* .throttling */ .A);
    octokit.hook.before('request', request => {
        request.headers['x-github-api-version'] = GITHUB_API_VERSION;
    });
    return octokit;
}


/***/ })

};
;
//# sourceMappingURL=64.index.js.map