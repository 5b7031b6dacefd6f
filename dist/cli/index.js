#!/usr/bin/env node
/******/ (() => { // webpackBootstrap
/******/ 	"use strict";
/******/ 	var __webpack_modules__ = ({

/***/ 5581:
/***/ ((module, __webpack_exports__, __nccwpck_require__) => {

__nccwpck_require__.a(module, async (__webpack_handle_async_dependencies__, __webpack_async_result__) => { try {
__nccwpck_require__.r(__webpack_exports__);
/* harmony export */ __nccwpck_require__.d(__webpack_exports__, {
/* harmony export */   main: () => (/* binding */ main)
/* harmony export */ });
/* harmony import */ var node_util__WEBPACK_IMPORTED_MODULE_0__ = __nccwpck_require__(7975);
/* harmony import */ var node_util__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__nccwpck_require__.n(node_util__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_1__ = __nccwpck_require__(6760);
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_1___default = /*#__PURE__*/__nccwpck_require__.n(node_path__WEBPACK_IMPORTED_MODULE_1__);
/* harmony import */ var _interface_js__WEBPACK_IMPORTED_MODULE_2__ = __nccwpck_require__(6160);
/* harmony import */ var _request_js__WEBPACK_IMPORTED_MODULE_3__ = __nccwpck_require__(4390);
/* harmony import */ var _rollback_js__WEBPACK_IMPORTED_MODULE_4__ = __nccwpck_require__(4593);
/* harmony import */ var _runbook_load_js__WEBPACK_IMPORTED_MODULE_5__ = __nccwpck_require__(4360);
/* harmony import */ var _util_exit_guard_js__WEBPACK_IMPORTED_MODULE_8__ = __nccwpck_require__(9922);
/* harmony import */ var _util_credentials_js__WEBPACK_IMPORTED_MODULE_6__ = __nccwpck_require__(2970);
/* harmony import */ var _util_redact_js__WEBPACK_IMPORTED_MODULE_7__ = __nccwpck_require__(767);
/**
 * CLI entry point: the same engine for the day GitHub Actions is down.
 *   emergency-rollback <plan|run|drill> [--runbook F] [--severity S] [...]
 * Flags mirror the action inputs; secrets come from environment variables only.
 */









const PLAIN_INPUTS = Object.keys(_interface_js__WEBPACK_IMPORTED_MODULE_2__/* .INPUTS */ .m).filter(name => !('secret' in _interface_js__WEBPACK_IMPORTED_MODULE_2__/* .INPUTS */ .m[name]) && !('actionOnly' in _interface_js__WEBPACK_IMPORTED_MODULE_2__/* .INPUTS */ .m[name]) && name !== 'command');
const SECRET_INPUTS = Object.keys(_interface_js__WEBPACK_IMPORTED_MODULE_2__/* .INPUTS */ .m).filter(name => 'secret' in _interface_js__WEBPACK_IMPORTED_MODULE_2__/* .INPUTS */ .m[name]);
/** A flag named like a credential or a secret input is refused; its value is never repeated. */
function secretFlagProblem(argv) {
    for (const arg of argv) {
        if (arg === '--')
            return undefined;
        const name = /^--?([^=]+)/.exec(arg)?.[1];
        if (name === undefined)
            continue;
        const secretName = SECRET_INPUTS.includes(name) ||
            (0,_util_credentials_js__WEBPACK_IMPORTED_MODULE_6__/* .looksLikeCredentialName */ .qN)(name) ||
            (0,_util_credentials_js__WEBPACK_IMPORTED_MODULE_6__/* .credentialKind */ .eV)(name) !== undefined;
        if (secretName) {
            return `${(0,_util_credentials_js__WEBPACK_IMPORTED_MODULE_6__/* .hideCredentials */ .RW)(`--${name}`)}: secrets are read from environment variables only, never from flags (see --help)`;
        }
    }
    return undefined;
}
function usage() {
    const flags = PLAIN_INPUTS.map(name => {
        const spec = _interface_js__WEBPACK_IMPORTED_MODULE_2__/* .INPUTS */ .m[name];
        const fallback = 'default' in spec && spec.default ? ` (default ${spec.default})` : '';
        return `  --${name.padEnd(13)} ${spec.description}${fallback}`;
    });
    const secrets = Object.keys(_interface_js__WEBPACK_IMPORTED_MODULE_2__/* .INPUTS */ .m).flatMap(name => {
        const spec = _interface_js__WEBPACK_IMPORTED_MODULE_2__/* .INPUTS */ .m[name];
        return spec.secretEnv ? [`  ${spec.secretEnv.padEnd(15)} ${spec.description}`] : [];
    });
    return [
        'Usage: emergency-rollback <plan|run|drill> [options]',
        '',
        'Commands:',
        '  plan   show what would change; change nothing',
        '  run    carry out the rollback',
        '  drill  prove the rollback works without changing production',
        '',
        'Options:',
        ...flags,
        '  --workdir       git checkout to work in (default: current directory)',
        '  --report        where to write the JSON report (default: ./rollback-report-<run-id>.json)',
        '  --json          print the JSON report instead of the text summary',
        '  --markdown      print the markdown summary instead of the text summary',
        '  -h, --help      this help',
        '',
        'Secrets are read from environment variables only (never flags):',
        ...secrets,
        '  hosting token, database URL: the variables your runbook names (hosting.token-env,',
        '                  database.url-env; default VERCEL_TOKEN, DATABASE_URL)',
        '',
        'Exit status: 0 planned/succeeded, 1 failed, 2 invalid runbook or input.'
    ].join('\n');
}
const stderrLogger = {
    info: m => process.stderr.write(`${m}\n`),
    warn: m => process.stderr.write(`warning: ${m}\n`),
    error: m => process.stderr.write(`error: ${m}\n`),
    debug: m => {
        if (process.env.ROLLBACK_DEBUG)
            process.stderr.write(`debug: ${m}\n`);
    }
};
function githubTarget(env) {
    const [owner, repo] = (env.GITHUB_REPOSITORY ?? '').split('/');
    if (!owner || !repo)
        return undefined;
    return {
        apiUrl: env.GITHUB_API_URL ?? 'https://api.github.com',
        serverUrl: env.GITHUB_SERVER_URL ?? 'https://github.com',
        owner,
        repo
    };
}
async function main(argv, env) {
    const options = Object.fromEntries(PLAIN_INPUTS.map(name => [name, { type: 'string' }]));
    const secretFlag = secretFlagProblem(argv);
    if (secretFlag !== undefined) {
        process.stderr.write(`${secretFlag}\nnothing was changed\n`);
        return 2;
    }
    let parsed;
    try {
        parsed = (0,node_util__WEBPACK_IMPORTED_MODULE_0__.parseArgs)({
            args: argv,
            allowPositionals: true,
            options: {
                ...options,
                workdir: { type: 'string' },
                report: { type: 'string' },
                json: { type: 'boolean' },
                markdown: { type: 'boolean' },
                help: { type: 'boolean', short: 'h' }
            }
        });
    }
    catch (err) {
        process.stderr.write(`${(0,_util_credentials_js__WEBPACK_IMPORTED_MODULE_6__/* .hideCredentials */ .RW)(err.message)}\n\n${usage()}\n`);
        return 2;
    }
    const { values, positionals } = parsed;
    if (values.help) {
        process.stdout.write(`${usage()}\n`);
        return 0;
    }
    if (positionals.length !== 1) {
        process.stderr.write(`expected exactly one command (plan, run or drill)\n\n${usage()}\n`);
        return 2;
    }
    const flag = (name) => values[name];
    const raw = { command: positionals[0] };
    for (const name of _request_js__WEBPACK_IMPORTED_MODULE_3__/* .REQUEST_INPUTS */ .cg) {
        raw[name] = flag(name);
    }
    const runId = `cli-${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}-${process.pid}`;
    const workdir = (0,node_path__WEBPACK_IMPORTED_MODULE_1__.resolve)(flag('workdir') ?? process.cwd());
    try {
        const outcome = await (0,_rollback_js__WEBPACK_IMPORTED_MODULE_4__/* .rollback */ .d)({
            runbookPath: (0,node_path__WEBPACK_IMPORTED_MODULE_1__.resolve)(flag('runbook') ?? _interface_js__WEBPACK_IMPORTED_MODULE_2__/* .INPUTS */ .m.runbook.default),
            inputs: raw,
            trigger: { kind: 'cli', actor: env.USER },
            runId,
            workdir,
            env,
            // Only the token has a fixed variable; the hosting token and database URL come from the
            // variables the runbook names, never from a generic one left in the shell.
            secrets: { githubToken: env.GITHUB_TOKEN || undefined },
            github: githubTarget(env),
            reportPath: (0,node_path__WEBPACK_IMPORTED_MODULE_1__.resolve)(flag('report') ?? `rollback-report-${runId}.json`),
            log: stderrLogger
        });
        const { readFile } = await Promise.resolve(/* import() */).then(__nccwpck_require__.t.bind(__nccwpck_require__, 1455, 23));
        const out = values.json
            ? await readFile(outcome.outputs.report, 'utf8')
            : values.markdown
                ? outcome.markdown
                : outcome.text;
        process.stdout.write(`${out}\n`);
        if (!values.json)
            process.stderr.write(`\nreport: ${outcome.outputs.report}\n`);
        return outcome.journal.status === 'failed' ? 1 : 0;
    }
    catch (err) {
        if (err instanceof _runbook_load_js__WEBPACK_IMPORTED_MODULE_5__/* .RunbookError */ .rk || err instanceof _request_js__WEBPACK_IMPORTED_MODULE_3__/* .InputError */ .dz) {
            process.stderr.write(`${err.message}\nnothing was changed\n`);
            return 2;
        }
        process.stderr.write(`error: ${new _util_redact_js__WEBPACK_IMPORTED_MODULE_7__/* .Redactor */ .pO().redact(err instanceof Error ? err.message : String(err))}\n`);
        return 1;
    }
}
process.exitCode = await (0,_util_exit_guard_js__WEBPACK_IMPORTED_MODULE_8__/* .untilFinished */ .P)(() => main(process.argv.slice(2), process.env), () => process.stderr.write('error: stopped before finishing (an operation never completed)\n'));

__webpack_async_result__();
} catch(e) { __webpack_async_result__(e); } }, 1);

/***/ }),

/***/ 2320:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {

/* harmony export */ __nccwpck_require__.d(__webpack_exports__, {
/* harmony export */   Fd: () => (/* binding */ normalizePath),
/* harmony export */   Mr: () => (/* binding */ overlapProblems),
/* harmony export */   z9: () => (/* binding */ pathProblem)
/* harmony export */ });
/* unused harmony export overlaps */
/**
 * Repository paths as the runbook writes them (the seed writes `/lib/...` and `app/admin/x/` for a
 * directory): normalised to git's form, and the protect/remove overlap rule.
 */
/** `/lib/a.ts` -> `lib/a.ts`, `app/admin/x/` -> `app/admin/x`. */
function normalizePath(path) {
    return path.trim().replace(/^\/+/, '').replace(/\/+$/, '');
}
/** Why a runbook path is unusable, or undefined when it is fine. */
function pathProblem(path) {
    const norm = normalizePath(path);
    if (norm === '' || norm === '.')
        return `"${path}" names the repository root`;
    if (norm.split('/').some(part => part === '..' || part === '.' || part === '.git')) {
        return `"${path}" must not contain ".", ".." or ".git" segments`;
    }
    return undefined;
}
/**
 * True when removing `removed` (a file or a directory) would remove `kept`. Removing one file
 * inside a protected directory is fine: the directory still exists.
 */
function overlaps(kept, removed) {
    const k = normalizePath(kept);
    const r = normalizePath(removed);
    return k === r || k.startsWith(`${r}/`);
}
/** Human-readable protect/remove conflicts (empty when there are none). */
function overlapProblems(protect, remove) {
    const problems = [];
    for (const kept of protect) {
        for (const removed of remove) {
            if (overlaps(kept, removed)) {
                problems.push(`"${kept}" is protected but "${removed}" is listed for removal`);
            }
        }
    }
    return problems;
}


/***/ }),

/***/ 8231:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {

/* harmony export */ __nccwpck_require__.d(__webpack_exports__, {
/* harmony export */   Yw: () => (/* binding */ proxySettingsFrom),
/* harmony export */   iJ: () => (/* binding */ proxyFor)
/* harmony export */ });
/* unused harmony export bypassesProxy */
/** The settings an environment names; the lower-case variables win, as in http-client. */
function proxySettingsFrom(env) {
    return {
        httpsProxy: env.https_proxy || env.HTTPS_PROXY || undefined,
        httpProxy: env.http_proxy || env.HTTP_PROXY || undefined,
        noProxy: env.no_proxy || env.NO_PROXY || undefined
    };
}
function isLoopback(host) {
    const h = host.toLowerCase();
    return (h === 'localhost' ||
        h.startsWith('127.') ||
        h.startsWith('[::1]') ||
        h.startsWith('[0:0:0:0:0:0:0:1]'));
}
function defaultPort(url) {
    if (url.port)
        return Number(url.port);
    if (url.protocol === 'http:')
        return 80;
    if (url.protocol === 'https:')
        return 443;
    return undefined;
}
/** True when `target` must not go through a proxy. */
function bypassesProxy(target, noProxy = '') {
    if (!target.hostname)
        return false;
    if (isLoopback(target.hostname))
        return true;
    const host = target.hostname.toUpperCase();
    const port = defaultPort(target);
    const names = port === undefined ? [host] : [host, `${host}:${port}`];
    const entries = noProxy
        .split(',')
        .map(x => x.trim().toUpperCase())
        .filter(Boolean);
    return entries.some(entry => entry === '*' ||
        names.some(n => n === entry || n.endsWith(`.${entry}`) || (entry.startsWith('.') && n.endsWith(entry))));
}
/** A proxy variable's URL; http-client reads a bare host:port as an http proxy. */
function parseProxy(value) {
    const candidates = /^https?:\/\//.test(value) ? [value] : [value, `http://${value}`];
    for (const candidate of candidates) {
        try {
            return new URL(candidate);
        }
        catch {
            // try the next reading
        }
    }
    return undefined;
}
/** The proxy URL for `target`, or undefined to connect directly. */
function proxyFor(target, settings) {
    if (bypassesProxy(target, settings.noProxy))
        return undefined;
    const value = target.protocol === 'https:' ? settings.httpsProxy : settings.httpProxy;
    const proxy = value ? parseProxy(value) : undefined;
    return proxy?.hostname ? proxy : undefined;
}


/***/ }),

/***/ 6160:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {

/* harmony export */ __nccwpck_require__.d(__webpack_exports__, {
/* harmony export */   m: () => (/* binding */ INPUTS)
/* harmony export */ });
/* unused harmony export OUTPUTS */
const INPUTS = {
    runbook: { description: 'Path of the runbook file.', default: '.github/rollback.yml' },
    command: {
        description: 'plan (show what would change, change nothing), run (do it) or drill (prove it works without changing production).',
        default: 'plan'
    },
    severity: {
        description: 'critical, high, medium or low: picks the phases from the runbook decision matrix. Required for run; plan and drill default to critical.',
        default: ''
    },
    phases: {
        description: 'Optional subset of phases, comma separated (flags, verify, database, git, schema, integrity, files, monitor, notify).',
        default: ''
    },
    'git-strategy': { description: 'revert (default from the runbook) or reset.', default: '' },
    revert: {
        description: 'Commits to revert: a range A..B or SHAs separated by spaces or commas.',
        default: ''
    },
    'reset-to': { description: 'Known-good commit SHA for git-strategy reset.', default: '' },
    confirm: {
        description: 'For reset: repeat the reset-to SHA (7+ characters) to confirm discarding later commits.',
        default: ''
    },
    branch: {
        description: 'Branch to roll back (default from the runbook, else main).',
        default: ''
    },
    'github-token': {
        description: 'Token for pushing, comments and issues.',
        default: '${{ github.token }}',
        secret: true,
        secretEnv: 'GITHUB_TOKEN'
    },
    'hosting-token': {
        description: 'Hosting platform API token (default: the variable the runbook names, e.g. VERCEL_TOKEN).',
        default: '',
        secret: true
    },
    'database-url': {
        description: 'PostgreSQL connection URL (default: the variable the runbook names, e.g. DATABASE_URL).',
        default: '',
        secret: true
    },
    'chatops-permission': {
        description: 'For /rollback comments: the minimum repository role of the commenter (read, triage, write, maintain or admin).',
        default: 'write',
        actionOnly: true
    },
    'chatops-allow': {
        description: 'For /rollback comments: optional allowlist of users and org/team slugs (comma or newline separated); the commenter must also have chatops-permission.',
        default: '',
        actionOnly: true
    },
    chatops: {
        description: 'For /rollback comments: run (read, authorise and run the command in this job) or gate (read, authorise and reply; output the request for a later job behind its environment, change nothing).',
        default: 'run',
        actionOnly: true
    },
    'chatops-reply': {
        description: 'For the job after a chatops gate: the id of the reply comment to update in place (the request comes from the inputs).',
        default: '',
        actionOnly: true
    }
};
const OUTPUTS = {
    status: 'planned, succeeded or failed; for /rollback comments also refused (commenter not allowed) or ignored (not a command).',
    request: 'For a chatops gate: the accepted request as JSON (command, severity, revert, ... with full SHAs) and the reply comment id.',
    report: 'Path of the JSON report (the journal of every step).',
    'head-sha': 'Branch head after the git phase.',
    'deployment-url': 'URL of the deployment made by the flags phase.',
    'incident-issue': 'URL of the incident issue, when one was opened (or, on a re-run of the same workflow run, reported on).'
};


/***/ }),

/***/ 182:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {

/* harmony export */ __nccwpck_require__.d(__webpack_exports__, {
/* harmony export */   L: () => (/* binding */ COMMANDS),
/* harmony export */   Z: () => (/* reexport safe */ _util_errors_js__WEBPACK_IMPORTED_MODULE_0__.Z)
/* harmony export */ });
/* harmony import */ var _util_errors_js__WEBPACK_IMPORTED_MODULE_0__ = __nccwpck_require__(17);
const COMMANDS = ['plan', 'run', 'drill'];



/***/ }),

/***/ 4390:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {

/* harmony export */ __nccwpck_require__.d(__webpack_exports__, {
/* harmony export */   TR: () => (/* binding */ parseRequest),
/* harmony export */   cg: () => (/* binding */ REQUEST_INPUTS),
/* harmony export */   dz: () => (/* binding */ InputError)
/* harmony export */ });
/* unused harmony export checkRevertSpec */
/* harmony import */ var _model_js__WEBPACK_IMPORTED_MODULE_0__ = __nccwpck_require__(182);
/* harmony import */ var _runbook_constants_js__WEBPACK_IMPORTED_MODULE_1__ = __nccwpck_require__(9469);
/* harmony import */ var _util_credentials_js__WEBPACK_IMPORTED_MODULE_2__ = __nccwpck_require__(2970);
/**
 * Validates the raw inputs (action inputs or CLI flags, all strings) into a Request. Every problem
 * names the input and the fix; all are reported together, before anything runs.
 */



/** The inputs that shape a request (besides `command`), as action inputs, CLI flags and ChatOps keys. */
const REQUEST_INPUTS = [
    'severity',
    'phases',
    'git-strategy',
    'revert',
    'reset-to',
    'confirm',
    'branch'
];
class InputError extends _model_js__WEBPACK_IMPORTED_MODULE_0__/* .RollbackError */ .Z {
    /** One line per problem; a value that looks like a credential is never repeated. */
    problems;
    constructor(problems) {
        const shown = problems.map(_util_credentials_js__WEBPACK_IMPORTED_MODULE_2__/* .hideCredentials */ .RW);
        super(shown.join('\n'), 'fix the inputs above; nothing was changed');
        this.name = 'InputError';
        this.problems = shown;
    }
}
const SHA = /^[0-9a-f]{7,40}$/;
function parseRequest(raw, trigger, runId) {
    const problems = [];
    const value = (name) => raw[name]?.trim() || undefined;
    const command = (value('command') ?? 'plan');
    if (!_model_js__WEBPACK_IMPORTED_MODULE_0__/* .COMMANDS */ .L.includes(command)) {
        problems.push(`command: "${command}" is not one of ${_model_js__WEBPACK_IMPORTED_MODULE_0__/* .COMMANDS */ .L.join(', ')}`);
    }
    const severityText = value('severity');
    let severity = 'critical';
    if (severityText === undefined) {
        if (command === 'run') {
            problems.push(`severity: required for command run; choose one of ${_runbook_constants_js__WEBPACK_IMPORTED_MODULE_1__/* .SEVERITIES */ .oC.join(', ')}`);
        }
    }
    else if (!_runbook_constants_js__WEBPACK_IMPORTED_MODULE_1__/* .SEVERITIES */ .oC.includes(severityText)) {
        problems.push(`severity: "${severityText}" is not one of ${_runbook_constants_js__WEBPACK_IMPORTED_MODULE_1__/* .SEVERITIES */ .oC.join(', ')}`);
    }
    else {
        severity = severityText;
    }
    const phases = parsePhases(value('phases'), problems);
    const revert = value('revert');
    if (revert !== undefined)
        problems.push(...checkRevertSpec(revert));
    // Asking for reset-to means asking for a reset: never fall back to the runbook's revert.
    const explicitStrategy = value('git-strategy');
    const strategy = explicitStrategy ??
        (value('reset-to') !== undefined || value('confirm') !== undefined ? 'reset' : undefined);
    if (strategy !== undefined && strategy !== 'revert' && strategy !== 'reset') {
        problems.push(`git-strategy: "${strategy}" is not revert or reset`);
    }
    if (explicitStrategy === undefined && strategy === 'reset' && revert !== undefined) {
        problems.push('revert: give either revert (Option B) or reset-to (Option A), not both');
    }
    const resetTo = value('reset-to')?.toLowerCase();
    if (resetTo !== undefined && !SHA.test(resetTo)) {
        problems.push(`reset-to: "${resetTo}" is not a commit SHA (7 to 40 hex characters); pin the known-good commit, not a branch or tag`);
    }
    const confirm = value('confirm')?.toLowerCase();
    if (confirm !== undefined && !SHA.test(confirm)) {
        problems.push('confirm: repeat the reset-to SHA (at least 7 hex characters)');
    }
    if (strategy === 'reset' && resetTo === undefined) {
        problems.push('reset-to: required when git-strategy is reset');
    }
    if (strategy === 'reset' && command === 'run' && confirm === undefined) {
        problems.push('confirm: a reset discards commits; set confirm to the reset-to SHA to proceed');
    }
    if (strategy === 'revert' && resetTo !== undefined) {
        problems.push('reset-to: only used with git-strategy reset; remove it or set git-strategy: reset');
    }
    const branch = value('branch');
    if (branch !== undefined && !_runbook_constants_js__WEBPACK_IMPORTED_MODULE_1__/* .BRANCH_NAME */ .P9.test(branch)) {
        problems.push(`branch: "${branch}" is not a valid branch name`);
    }
    if (problems.length > 0)
        throw new InputError(problems);
    return {
        command,
        severity,
        phases,
        gitStrategy: strategy,
        revert,
        resetTo,
        confirm,
        branch,
        trigger,
        runId
    };
}
function parsePhases(text, problems) {
    if (text === undefined)
        return undefined;
    const names = text.split(/[\s,]+/).filter(Boolean);
    if (names.length === 0) {
        problems.push(`phases: "${text}" names no phase, so nothing would be selected; choose from ${_runbook_constants_js__WEBPACK_IMPORTED_MODULE_1__/* .PHASES */ .ZG.join(', ')} or leave it empty for all`);
        return undefined;
    }
    const unknown = names.filter(n => !_runbook_constants_js__WEBPACK_IMPORTED_MODULE_1__/* .PHASES */ .ZG.includes(n));
    if (unknown.length > 0) {
        problems.push(`phases: unknown phase(s) ${unknown.join(', ')}; choose from ${_runbook_constants_js__WEBPACK_IMPORTED_MODULE_1__/* .PHASES */ .ZG.join(', ')}`);
    }
    return names.filter((n) => _runbook_constants_js__WEBPACK_IMPORTED_MODULE_1__/* .PHASES */ .ZG.includes(n));
}
/** `A..B` or a list of SHAs; only SHAs, so what was approved is exactly what runs. */
function checkRevertSpec(spec) {
    const range = /^([^.\s]+)\.\.([^.\s]+)$/.exec(spec);
    if (spec.includes('...'))
        return [`revert: "${spec}" uses "..."; write a range as A..B`];
    const parts = range ? [range[1], range[2]] : spec.split(/[\s,]+/).filter(Boolean);
    const bad = parts.filter(p => !SHA.test(p.toLowerCase()));
    if (bad.length > 0) {
        return [
            `revert: ${bad.map(b => `"${b}"`).join(', ')} is not a commit SHA; use SHAs (7-40 hex) as A..B or a list, not branch names`
        ];
    }
    return [];
}


/***/ }),

/***/ 4593:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {


// EXPORTS
__nccwpck_require__.d(__webpack_exports__, {
  d: () => (/* binding */ rollback)
});

// EXTERNAL MODULE: external "node:fs/promises"
var promises_ = __nccwpck_require__(1455);
// EXTERNAL MODULE: external "node:path"
var external_node_path_ = __nccwpck_require__(6760);
// EXTERNAL MODULE: ./src/util/errors.ts
var util_errors = __nccwpck_require__(17);
// EXTERNAL MODULE: external "node:fs"
var external_node_fs_ = __nccwpck_require__(3024);
// EXTERNAL MODULE: ./src/util/duration.ts
var duration = __nccwpck_require__(6518);
// EXTERNAL MODULE: ./src/util/redact.ts
var redact = __nccwpck_require__(767);
;// CONCATENATED MODULE: external "node:module"
const external_node_module_namespaceObject = require("node:module");
// EXTERNAL MODULE: external "node:url"
var external_node_url_ = __nccwpck_require__(3136);
;// CONCATENATED MODULE: external "node:v8"
const external_node_v8_namespaceObject = require("node:v8");
;// CONCATENATED MODULE: ./src/db/pg-wasm.ts
/**
 * The bytes of libpg-query's .wasm. Keep this file tiny and this exact shape: ncc's asset
 * relocator recognises `readFileSync(new URL(<literal>, import.meta.url))`, copies the file byte
 * for byte next to the bundle (dist/libpg-query.wasm) and rewrites the URL. From the sources it is
 * simply the file in node_modules.
 */

function libpgQueryWasm() {
    return (0,external_node_fs_.readFileSync)(__nccwpck_require__.ab + "libpg-query.wasm");
}

;// CONCATENATED MODULE: ./src/db/pg-parser.ts
/**
 * The PostgreSQL parser (libpg-query's WASM build), loaded so it also works from the ncc bundle.
 *
 * libpg-query's own index.js starts the WASM module at import time and finds the .wasm file
 * through `__dirname`, which does not exist in an ESM bundle (the import would fail with
 * "__dirname is not defined" and the .wasm would not be copied). So we call the emscripten
 * factory ourselves with `instantiateWasm` and the module compiled from the bytes of the .wasm
 * (see pg-wasm.ts for how the bundle gets them).
 * The parse call below mirrors libpg-query's `parse` (same struct layout, v18).
 */






const wasm = globalThis.WebAssembly;
class SqlParseError extends Error {
    cursorPosition;
    constructor(message, cursorPosition) {
        super(message);
        this.cursorPosition = cursorPosition;
        this.name = 'SqlParseError';
    }
}
function wasmBytes() {
    try {
        return libpgQueryWasm();
    }
    catch {
        // Not found relative to the sources (e.g. hoisted node_modules): ask Node's resolver.
    }
    try {
        return (0,external_node_fs_.readFileSync)((0,external_node_module_namespaceObject.createRequire)(require("url").pathToFileURL(__filename).href).resolve('libpg-query/wasm/libpg-query.wasm'));
    }
    catch (err) {
        throw new Error(`libpg-query.wasm not found: ${err instanceof Error ? err.message : err}`);
    }
}
let compiled;
let loading;
/** The parser's module, compiled once; V8 decodes and validates it off the main thread. */
function compiledParser() {
    if (!compiled) {
        // Without this, V8 recompiles the whole 1.7 MB parser with its optimising compiler right after
        // instantiation and the process stalls for ~0.3 s (seen on the next git spawn). A run parses a
        // handful of statements: the baseline compiler is plenty.
        (0,external_node_v8_namespaceObject.setFlagsFromString)('--liftoff-only');
        compiled = wasm.compile(wasmBytes());
        // Whoever parses awaits it and reports the failure; a warm-up alone must not crash the run.
        compiled.catch(() => undefined);
    }
    return compiled;
}
/**
 * Starts compiling the parser in the background, so that the first parse, later, waits less
 * (~15 ms of a plan's start). No side effect outside this process; errors surface at that parse.
 */
function preloadSqlParser() {
    try {
        void compiledParser();
    }
    catch {
        // wasmBytes() threw (no .wasm): the first parse reports it.
    }
}
async function load() {
    const module = await compiledParser();
    // The emscripten glue reads __dirname in Node even when given the module; ESM bundles lack it.
    const g = globalThis;
    if (typeof g.__dirname !== 'string')
        g.__dirname = (0,external_node_path_.dirname)((0,external_node_url_.fileURLToPath)(require("url").pathToFileURL(__filename).href));
    const imported = (await __nccwpck_require__.e(/* import() */ 995).then(__nccwpck_require__.t.bind(__nccwpck_require__, 3995, 23)));
    const factory = typeof imported.default === 'function' ? imported.default : imported.default.default;
    // The glue waits for `done`; a failed instantiation must reject the load, not leave it pending.
    let failed = () => { };
    const instantiationFailed = new Promise((_, reject) => (failed = reject));
    return Promise.race([
        factory({
            instantiateWasm(imports, done) {
                wasm.instantiate(module, imports).then(done).catch(failed);
                return {};
            }
        }),
        instantiationFailed
    ]);
}
/** Parses SQL into libpg-query's JSON AST ({ version, stmts: [{ stmt, stmt_location, stmt_len }] }). */
async function parseSql(sql) {
    loading ??= load();
    const m = await loading;
    const len = m.lengthBytesUTF8(sql) + 1;
    const queryPtr = m._malloc(len);
    let resultPtr = 0;
    try {
        m.stringToUTF8(sql, queryPtr, len);
        resultPtr = m._wasm_parse_query_raw(queryPtr);
        if (!resultPtr)
            throw new Error('parser: memory allocation failed');
        const treePtr = m.getValue(resultPtr, 'i32');
        const errorPtr = m.getValue(resultPtr + 8, 'i32');
        if (errorPtr) {
            const messagePtr = m.getValue(errorPtr, 'i32');
            const cursor = m.getValue(errorPtr + 16, 'i32');
            const message = messagePtr ? m.UTF8ToString(messagePtr) : 'syntax error';
            throw new SqlParseError(message, cursor > 0 ? cursor - 1 : 0);
        }
        if (!treePtr)
            throw new Error('parser: no parse tree');
        return JSON.parse(m.UTF8ToString(treePtr));
    }
    finally {
        m._free(queryPtr);
        if (resultPtr)
            m._wasm_free_parse_result(resultPtr);
    }
}

;// CONCATENATED MODULE: ./src/db/session-state.ts
/**
 * What runbook SQL may not do: change the state of the session, the role, the transaction or the
 * server behind the engine's back. The engine sets lock_timeout/statement_timeout, holds the
 * run's advisory lock and decides where transactions begin and end; SQL that changes any of that
 * (SET and every equivalent: set_config(), UPDATE pg_settings, advisory lock calls, ...) would
 * silently remove a safety rule. Used for sql steps and for batch-update expressions alike.
 */
/** Statement kinds (parser node names) that change session, role, transaction or server state. */
const STATEMENTS = {
    VariableSetStmt: 'SET would override the engine’s lock_timeout/statement_timeout: use database.lock-timeout and database.statement-timeout in the runbook',
    DiscardStmt: 'DISCARD resets the engine’s session (timeouts, advisory lock state)',
    AlterSystemStmt: 'ALTER SYSTEM changes the server configuration: not a cleanup step',
    AlterRoleSetStmt: 'ALTER ROLE ... SET changes settings of future sessions: not a cleanup step',
    AlterDatabaseSetStmt: 'ALTER DATABASE ... SET changes settings of future sessions: not a cleanup step',
    LoadStmt: 'LOAD loads a shared library into the session: not a cleanup step',
    PrepareStmt: 'PREPARE leaves state in the session: write the statement itself',
    ExecuteStmt: 'EXECUTE runs a prepared statement the engine cannot classify',
    DeallocateStmt: 'DEALLOCATE changes the session’s prepared statements',
    DeclareCursorStmt: 'cursors leave state in the session: write plain statements',
    FetchStmt: 'cursors leave state in the session: write plain statements',
    ClosePortalStmt: 'cursors leave state in the session: write plain statements',
    ListenStmt: 'LISTEN leaves state in the session',
    UnlistenStmt: 'UNLISTEN changes the session’s state'
};
/** Functions that change session/transaction/server state or run SQL the engine never sees. */
const FUNCTIONS = {
    set_config: 'it is SET by another name (it would override the engine’s timeouts)',
    pg_advisory_lock: 'advisory locks are the engine’s (one runner per database)',
    pg_advisory_lock_shared: 'advisory locks are the engine’s (one runner per database)',
    pg_try_advisory_lock: 'advisory locks are the engine’s (one runner per database)',
    pg_try_advisory_lock_shared: 'advisory locks are the engine’s (one runner per database)',
    pg_advisory_xact_lock: 'advisory locks are the engine’s (one runner per database)',
    pg_advisory_xact_lock_shared: 'advisory locks are the engine’s (one runner per database)',
    pg_try_advisory_xact_lock: 'advisory locks are the engine’s (one runner per database)',
    pg_try_advisory_xact_lock_shared: 'advisory locks are the engine’s (one runner per database)',
    pg_advisory_unlock: 'would release the engine’s advisory lock (one runner per database)',
    pg_advisory_unlock_shared: 'would release the engine’s advisory lock (one runner per database)',
    pg_advisory_unlock_all: 'would release the engine’s advisory lock (one runner per database)',
    pg_terminate_backend: 'ends sessions (possibly the engine’s own): do it by hand if needed',
    pg_cancel_backend: 'cancels sessions (possibly the engine’s own): do it by hand if needed',
    pg_reload_conf: 'reloads the server configuration: not a cleanup step',
    dblink: 'runs SQL on another connection the engine cannot classify',
    dblink_exec: 'runs SQL on another connection the engine cannot classify',
    dblink_connect: 'opens another connection the engine cannot classify',
    query_to_xml: 'runs an SQL string the engine cannot classify',
    query_to_xmlschema: 'runs an SQL string the engine cannot classify',
    query_to_xml_and_xmlschema: 'runs an SQL string the engine cannot classify',
    cursor_to_xml: 'reads a cursor (session state)',
    ts_stat: 'runs an SQL string the engine cannot classify'
};
/** Catalog views whose UPDATE is SET by another name. */
const SETTING_RELATIONS = new Set(['pg_settings', 'pg_catalog.pg_settings']);
function funcName(call) {
    const parts = call.funcname ?? [];
    return parts[parts.length - 1]?.String?.sval ?? '';
}
function relation(rangeVar) {
    const rv = rangeVar;
    return rv?.schemaname ? `${rv.schemaname}.${rv.relname}` : (rv?.relname ?? '');
}
/** The first function call anywhere in the tree that changes session state, with the reason. */
function forbiddenCall(tree) {
    const pending = [tree];
    while (pending.length > 0) {
        const node = pending.pop();
        if (Array.isArray(node))
            pending.push(...node);
        else if (node && typeof node === 'object') {
            const call = node.FuncCall;
            const name = call ? funcName(call) : '';
            if (name in FUNCTIONS)
                return `${name}(): ${FUNCTIONS[name]}`;
            pending.push(...Object.values(node));
        }
    }
    return undefined;
}
/**
 * Why a parsed statement or expression (a libpg-query node) changes state behind the engine's
 * back, or undefined. `kind` is the statement's node name when `tree` is a statement's body.
 */
function sessionStateChange(tree, kind) {
    if (kind && kind in STATEMENTS)
        return STATEMENTS[kind];
    if (kind === 'UpdateStmt' && SETTING_RELATIONS.has(relation(tree.relation))) {
        return 'UPDATE pg_settings is SET by another name (it would override the engine’s timeouts)';
    }
    return forbiddenCall(tree);
}

;// CONCATENATED MODULE: ./src/db/statement-builder.ts
/**
 * The SQL statement builder: the one place where runbook text becomes SQL that writes.
 *
 * Runbook expressions (a batch-update's `where` and `set` values) are parsed ALONE by the real
 * PostgreSQL parser and must each be exactly one expression node; runbook names become SQL only
 * through `ident()`. A statement is our own template (identifiers quoted, expressions as
 * placeholders) parsed into a tree; the placeholders are replaced by the expressions' trees and the
 * text sent to the server is deparsed from that tree. Before it is used, the text is parsed again
 * and must give the very tree that was built: whatever the runbook holds, the server runs the
 * statement we built, never text that was pasted together.
 */



/** SelectStmt fields every `SELECT <expr>` has; anything else means more than an expression. */
const PLAIN_SELECT = {
    limitOption: 'LIMIT_OPTION_DEFAULT',
    op: 'SETOP_NONE'
};
function notOneExpression(field, why) {
    return new util_errors/* RollbackError */.Z(`${field} must be exactly one SQL expression (${why})`, `fix ${field}: one condition or value, e.g. status = 'error' AND is_active`);
}
/** The single expression of a `SELECT <expr>` tree, or why there is not exactly one. */
function soleExpression(parsed, field) {
    const stmts = parsed.stmts ?? [];
    if (stmts.length !== 1)
        throw notOneExpression(field, `it holds ${stmts.length} statements`);
    const select = stmts[0]?.stmt?.SelectStmt;
    if (!select)
        throw notOneExpression(field, 'it is not an expression');
    const { targetList, ...rest } = select;
    const extra = Object.keys(rest).filter(k => rest[k] !== PLAIN_SELECT[k]);
    if (extra.length > 0)
        throw notOneExpression(field, `it continues with ${clause(extra[0])}`);
    const targets = targetList ?? [];
    if (targets.length !== 1)
        throw notOneExpression(field, `it is a list of ${targets.length}`);
    const target = targets[0].ResTarget;
    if (!target?.val || target.name !== undefined)
        throw notOneExpression(field, 'it has an alias');
    const star = target.val.ColumnRef?.fields;
    if (star?.some(f => f.A_Star !== undefined))
        throw notOneExpression(field, 'it is a *');
    return target.val;
}
function clause(key) {
    return key
        .replace(/Clause$/, '')
        .replace(/([A-Z])/g, ' $1')
        .toUpperCase();
}
/**
 * Parses one runbook expression on its own. Refused, naming the field: anything that is not
 * exactly one expression node (`a) OR (b`, `x, y = z`, `1; DROP ...`, `a FROM t`), and any call
 * that changes session state (set_config(), advisory locks, ...).
 */
async function parseExpression(text, field) {
    let parsed;
    try {
        parsed = (await parseSql(`SELECT ${text}`));
    }
    catch (err) {
        // The parser quotes the text near the error: one line, bounded, whatever the runbook holds.
        const raw = err instanceof Error ? err.message : String(err);
        const message = raw.replace(/\s+/g, ' ').slice(0, 160);
        throw new util_errors/* RollbackError */.Z(`${field} is not a valid SQL expression: ${message}`, `fix ${field}: one condition or value, e.g. status = 'error' AND is_active`);
    }
    const expr = soleExpression(parsed, field);
    // $1, $2 are the batch's key bounds: an expression must not read (or shift) them.
    if (JSON.stringify(expr).includes('"ParamRef"')) {
        throw notOneExpression(field, 'it uses a $n parameter');
    }
    const change = sessionStateChange(expr);
    if (change)
        throw new util_errors/* RollbackError */.Z(`${field}: refusing ${change}`, `remove it from ${field}`);
    return expr;
}
/** Quotes an identifier, optionally schema-qualified ("a.b" -> "a"."b"). The only quoting. */
function ident(name) {
    return name
        .split('.')
        .map(part => `"${part.replace(/"/g, '""')}"`)
        .join('.');
}
/** The name of a template placeholder: a bare column reference no runbook identifier can shadow. */
function placeholder(i) {
    return `__rollback_expr_${i}`;
}
function placeholderIndex(node) {
    const fields = node?.ColumnRef
        ?.fields;
    const name = fields?.length === 1 ? fields[0]?.String?.sval : undefined;
    const match = name ? /^__rollback_expr_(\d+)$/.exec(name) : null;
    return match ? Number(match[1]) : undefined;
}
function substitute(node, exprs, used) {
    if (Array.isArray(node))
        return node.map(n => substitute(n, exprs, used));
    if (!node || typeof node !== 'object')
        return node;
    const i = placeholderIndex(node);
    if (i !== undefined) {
        if (!exprs[i])
            throw new Error(`statement builder: no expression for placeholder ${i}`);
        used.add(i);
        return withoutLocations(exprs[i]);
    }
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, substitute(v, exprs, used)]));
}
/** The tree without source positions, which differ between two texts of the same statement. */
function withoutLocations(node) {
    if (Array.isArray(node))
        return node.map(withoutLocations);
    if (!node || typeof node !== 'object')
        return node;
    return Object.fromEntries(Object.entries(node)
        .filter(([k]) => !['location', 'stmt_location', 'stmt_len'].includes(k))
        .map(([k, v]) => [k, withoutLocations(v)]));
}
/**
 * `a AND (b AND c)` is `a AND b AND c`: nested ANDs (ORs) become one list, as the parser itself
 * builds `a AND b AND c`. Placing a runbook AND condition into our AND gives such a nesting.
 */
function flattenBooleans(node) {
    if (Array.isArray(node))
        return node.map(flattenBooleans);
    if (!node || typeof node !== 'object')
        return node;
    const out = Object.fromEntries(Object.entries(node).map(([k, v]) => [k, flattenBooleans(v)]));
    const bool = out.BoolExpr;
    if (bool && bool.boolop !== 'NOT_EXPR') {
        const args = bool.args.flatMap(a => {
            const inner = a.BoolExpr;
            return inner?.boolop === bool.boolop ? inner.args : [a];
        });
        out.BoolExpr = { ...bool, args };
    }
    return out;
}
let deparser;
async function deparse(tree) {
    deparser ??= __nccwpck_require__.e(/* import() */ 830).then(__nccwpck_require__.bind(__nccwpck_require__, 7830)).then(m => (t) => m.deparse(t));
    return (await deparser)(tree);
}
/**
 * Builds one statement from a template (our SQL: identifiers through `ident()`, expressions as
 * `placeholder(i)`) and the parsed runbook expressions. Returns SQL whose parse tree is exactly
 * the template's with the expressions in place (checked by parsing it again).
 */
async function buildStatement(template, exprs, field) {
    const parsed = (await parseSql(template));
    if (parsed.stmts?.length !== 1)
        throw new Error('statement builder: one template, one statement');
    const used = new Set();
    const tree = flattenBooleans(substitute(withoutLocations(parsed), exprs, used));
    if (used.size !== exprs.length)
        throw new Error('statement builder: an expression was not placed');
    const sql = await deparse(tree);
    const again = flattenBooleans(withoutLocations(await parseSql(sql)));
    if (JSON.stringify(again) !== JSON.stringify(tree)) {
        throw new util_errors/* RollbackError */.Z(`${field}: the statement built from its expressions does not parse back to the same tree`, `simplify ${field}.where and ${field}.set (and report this case)`);
    }
    return sql;
}

;// CONCATENATED MODULE: ./src/db/connection.ts
/**
 * Connections for the database phases: the URL from the run's secrets or the variable the runbook
 * names, TLS from `sslmode`, `application_name` so DBAs see the rollback in pg_stat_activity,
 * statement_timeout and idle_in_transaction_session_timeout on every session we open, and errors
 * mapped to messages that say what to fix (the URL always masked).
 */




const APPLICATION_NAME = 'emergency-rollback';
const DEFAULTS = { 'url-env': 'DATABASE_URL', 'lock-timeout': '500ms', 'statement-timeout': '5m' };
/** Resolves the URL and timeouts for a run (schema/integrity use the database section too). */
function dbSettings(source) {
    const config = source.config ?? {};
    const urlEnv = config['url-env'] ?? DEFAULTS['url-env'];
    const fromSecret = source.inputUrl;
    const url = fromSecret ?? source.env[urlEnv];
    if (!url) {
        throw new util_errors/* RollbackError */.Z(`no database URL: neither the database-url input nor $${urlEnv} is set`, `pass database-url (a secret) or set ${urlEnv}; the runbook's database.url-env names the variable`);
    }
    return {
        url,
        source: fromSecret ? 'the database-url input' : `$${urlEnv}`,
        statementTimeoutMs: (0,duration/* parseDuration */.E9)(config['statement-timeout'] ?? DEFAULTS['statement-timeout']),
        lockTimeoutMs: (0,duration/* parseDuration */.E9)(config['lock-timeout'] ?? DEFAULTS['lock-timeout']),
        lockRetries: config['lock-retries'] ?? 8,
        runId: source.runId
    };
}
/** pg client options from a URL: TLS per sslmode with libpq's meaning of each mode. */
function clientConfig(settings, purpose) {
    let parsed;
    try {
        parsed = new URL(settings.url);
    }
    catch {
        throw new util_errors/* RollbackError */.Z(`the database URL from ${settings.source} is not a valid URL`, 'use postgres://user:password@host:5432/dbname?sslmode=require');
    }
    if (!/^postgres(ql)?:$/.test(parsed.protocol)) {
        throw new util_errors/* RollbackError */.Z(`the database URL from ${settings.source} must start with postgres:// (got ${parsed.protocol}//)`);
    }
    const params = parsed.searchParams;
    const sslmode = params.get('sslmode') ?? 'prefer';
    const rootCert = params.get('sslrootcert');
    for (const key of ['sslmode', 'sslrootcert', 'sslcert', 'sslkey', 'uselibpqcompat']) {
        params.delete(key);
    }
    let ssl = false;
    // require, and prefer (libpq's default: TLS when the server offers it, see connect()).
    if (['require', 'no-verify', 'prefer', 'allow'].includes(sslmode)) {
        ssl = { rejectUnauthorized: false };
    }
    if (['verify-ca', 'verify-full'].includes(sslmode)) {
        ssl = { rejectUnauthorized: true };
        if (rootCert)
            ssl.ca = (0,external_node_fs_.readFileSync)(rootCert, 'utf8');
        if (sslmode === 'verify-ca')
            ssl.checkServerIdentity = () => undefined;
    }
    const app = `${APPLICATION_NAME} ${purpose} ${settings.runId}`.slice(0, 63);
    return {
        connectionString: parsed.toString(),
        ssl,
        application_name: app,
        connectionTimeoutMillis: 15_000,
        statement_timeout: settings.statementTimeoutMs,
        // Be gentle: no parallel workers for our scans (on a small server they would take every core).
        options: '-c max_parallel_workers_per_gather=0',
        idle_in_transaction_session_timeout: Math.max(settings.statementTimeoutMs, 60_000)
    };
}
/** Opens a session; throws a RollbackError that says what is wrong, with the URL masked. */
async function connect(settings, purpose) {
    // Loaded on first use: a run without database steps (or a plan) does not pay for it.
    const { default: postgres } = await __nccwpck_require__.e(/* import() */ 849).then(__nccwpck_require__.bind(__nccwpck_require__, 3849));
    const config = clientConfig(settings, purpose);
    const open = async (options) => {
        const client = new postgres.Client(options);
        // An idle client whose server goes away emits 'error': never let that crash the process.
        client.on('error', () => { });
        try {
            await client.connect();
            return client;
        }
        catch (err) {
            await client.end().catch(() => { });
            throw err;
        }
    };
    try {
        return await open(config);
    }
    catch (err) {
        // sslmode prefer/allow (the default) falls back to a plain connection, as libpq does, only
        // when the server says it has no TLS.
        if (config.ssl && tlsIsOptional(settings.url) && /does not support SSL/i.test(String(err))) {
            return open({ ...config, ssl: false }).catch(plainErr => {
                throw connectionError(plainErr, settings);
            });
        }
        throw connectionError(err, settings);
    }
}
function tlsIsOptional(url) {
    const mode = new URL(url).searchParams.get('sslmode') ?? 'prefer';
    return mode === 'prefer' || mode === 'allow';
}
function connectionError(err, settings) {
    const where = (0,redact/* maskUrl */.yP)(settings.url);
    const e = err;
    const raw = (e.message ?? String(err)).split(settings.url).join(where);
    switch (e.code) {
        case 'ECONNREFUSED':
        case 'EHOSTUNREACH':
        case 'ENETUNREACH':
        case 'ETIMEDOUT':
            return new util_errors/* RollbackError */.Z(`database unreachable at ${where} (${e.code})`, `check the host and port in ${settings.source}, and that the runner can reach the database`);
        case 'ENOTFOUND':
        case 'EAI_AGAIN':
            return new util_errors/* RollbackError */.Z(`database host not found for ${where} (${e.code})`, `check the host name in ${settings.source}`);
        case '28P01':
        case '28000':
            return new util_errors/* RollbackError */.Z(`database refused the credentials for ${where} (${e.code}: authentication failed)`, `check the user and password in ${settings.source}`);
        case '3D000':
            return new util_errors/* RollbackError */.Z(`database does not exist: ${where} (3D000)`, `check the database name in ${settings.source}`);
        default:
            if (/timeout/i.test(raw)) {
                return new util_errors/* RollbackError */.Z(`database connection timed out: ${where}`, `check ${settings.source} and the network`);
            }
            return new util_errors/* RollbackError */.Z(`cannot connect to ${where}: ${raw}`, `check ${settings.source}`);
    }
}
/** Runs fn with a session and always closes it. */
async function withClient(settings, purpose, fn) {
    const client = await connect(settings, purpose);
    try {
        return await fn(client);
    }
    finally {
        await client.end().catch(() => { });
    }
}
/** Identifiers are quoted by the statement builder's one function. */

/** Splits "schema.name" (schema defaults to the search path: null). */
function splitName(name) {
    const i = name.indexOf('.');
    return i < 0 ? { schema: null, name } : { schema: name.slice(0, i), name: name.slice(i + 1) };
}
function pgErrorCode(err) {
    return err.code === undefined
        ? undefined
        : String(err.code);
}
/** A server error as a RollbackError naming the runbook field, the SQLSTATE and the message. */
function sqlError(err, field, statement) {
    if (err instanceof util_errors/* RollbackError */.Z)
        return err;
    const e = err;
    const code = e.code ? ` (SQLSTATE ${e.code})` : '';
    const stmt = statement ? ` in "${statement.replace(/\s+/g, ' ').slice(0, 120)}"` : '';
    return new util_errors/* RollbackError */.Z(`${field}: SQL failed${code}${stmt}: ${e.message ?? String(err)}`, `fix ${field} in the runbook; steps are idempotent, so rerun once fixed`);
}

;// CONCATENATED MODULE: ./src/db/advisory-lock.ts


/** ASCII "erollbck": the same constant in every run, so two runs exclude each other. */
const ADVISORY_LOCK_KEY = 0x65726f6c6c62636bn;
async function lockHolder(client) {
    const high = Number(ADVISORY_LOCK_KEY >> 32n);
    const low = Number(ADVISORY_LOCK_KEY & 0xffffffffn);
    const res = await client.query(`SELECT a.pid, a.application_name, a.usename, a.client_addr::text AS client_addr,
            a.backend_start, a.state
       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND l.database = (
              SELECT oid FROM pg_database WHERE datname = current_database())
        AND l.classid = $1::bigint::oid AND l.objid = $2::bigint::oid AND l.objsubid = 1
      LIMIT 1`, [high, low]);
    const row = res.rows[0];
    if (!row)
        return undefined;
    return {
        pid: row.pid,
        applicationName: row.application_name,
        user: row.usename,
        client: row.client_addr,
        since: row.backend_start ? row.backend_start.toISOString() : null,
        state: row.state
    };
}
function describeHolder(h) {
    const app = h.applicationName ? `"${h.applicationName}"` : 'an unnamed session';
    return `${app} (pid ${h.pid}, user ${h.user}${h.client ? `, from ${h.client}` : ''}${h.since ? `, connected since ${h.since}` : ''})`;
}
/** Takes the lock or fails fast saying who holds it. */
async function acquireRunLock(settings, purpose) {
    const client = await connect(settings, `${purpose} lock`);
    try {
        const res = await client.query('SELECT pg_try_advisory_lock($1::bigint) AS ok', [ADVISORY_LOCK_KEY.toString()]);
        if (!res.rows[0]?.ok) {
            const holder = await lockHolder(client);
            throw new util_errors/* RollbackError */.Z(`another rollback is running on this database: the advisory lock is held by ${holder ? describeHolder(holder) : 'another session'}`, holder
                ? `wait for it to finish, or if it is stuck: SELECT pg_terminate_backend(${holder.pid})`
                : 'wait for the other run to finish');
        }
    }
    catch (err) {
        await client.end().catch(() => { });
        throw err;
    }
    let released = false;
    return {
        client,
        async release() {
            if (released)
                return;
            released = true;
            try {
                await client.query('SELECT pg_advisory_unlock($1::bigint)', [ADVISORY_LOCK_KEY.toString()]);
            }
            finally {
                await client.end().catch(() => { });
            }
        }
    };
}
/** Read-only probe for preflight: is another run holding the lock right now? */
async function checkRunLockFree(client) {
    const holder = await lockHolder(client);
    if (holder) {
        throw new util_errors/* RollbackError */.Z(`another rollback is running on this database: the advisory lock is held by ${describeHolder(holder)}`, `wait for it to finish, or if it is stuck: SELECT pg_terminate_backend(${holder.pid})`);
    }
}
async function withRunLock(settings, purpose, fn) {
    const lock = await acquireRunLock(settings, purpose);
    try {
        return await fn();
    }
    finally {
        await lock.release();
    }
}

;// CONCATENATED MODULE: ./src/db/lock-ladder.ts


/** The lock_timeout of each attempt: 5 rising rungs up to the top, then the top. */
function ladderTimeouts(lockTimeoutMs, retries) {
    const out = [];
    for (let i = 0; i <= retries; i++) {
        out.push(Math.max(10, Math.round((lockTimeoutMs * Math.min(i + 1, 5)) / 5)));
    }
    return out;
}
/** Sleep before retry i (1-based): 50 ms doubling, capped at 5 s, plus up to 50% jitter. */
function ladderSleep(retry, random) {
    const base = Math.min(5000, 50 * 2 ** (retry - 1));
    return Math.round(base + base * 0.5 * random());
}
class LockLadderExhausted extends util_errors/* RollbackError */.Z {
    attempts;
    constructor(what, attempts) {
        const tops = attempts.map(a => a.lockTimeoutMs).join('/');
        super(`${what}: could not get the lock after ${attempts.length} attempts (lock_timeout ${tops} ms); something holds a conflicting lock (a long transaction?)`, 'find it in pg_stat_activity (oldest xact_start) and let it finish or end it, then rerun (the step is idempotent); or raise database.lock-retries / lock-timeout');
        this.attempts = attempts;
        this.name = 'LockLadderExhausted';
    }
}
/**
 * Runs `attempt` (which sends the statement(s)) with a per-attempt lock_timeout set on the
 * session, retrying on 55P03. `attempt` must leave the session clean on failure (roll back its
 * own transaction). Afterwards lock_timeout is RESET to the session default.
 */
async function withLockLadder(client, what, options, attempt) {
    const timeouts = ladderTimeouts(options.lockTimeoutMs, options.retries);
    const random = options.random ?? Math.random;
    const attempts = [];
    try {
        for (const [i, timeout] of timeouts.entries()) {
            await options.beforeAttempt?.();
            await client.query(`SET lock_timeout = ${Math.round(timeout)}`);
            const started = Date.now();
            try {
                const value = await attempt(timeout);
                attempts.push({
                    attempt: i + 1,
                    lockTimeoutMs: timeout,
                    outcome: 'ok',
                    waitedMs: Date.now() - started
                });
                return { value, attempts };
            }
            catch (err) {
                if (pgErrorCode(err) !== '55P03')
                    throw err;
                const record = {
                    attempt: i + 1,
                    lockTimeoutMs: timeout,
                    outcome: 'lock timeout',
                    waitedMs: Date.now() - started
                };
                attempts.push(record);
                if (i === timeouts.length - 1)
                    break;
                record.sleptMs = ladderSleep(i + 1, random);
                options.log?.(`${what}: lock not granted within ${timeout} ms (attempt ${i + 1}/${timeouts.length}); retrying in ${record.sleptMs} ms`);
                await options.sleep(record.sleptMs);
            }
        }
    }
    finally {
        await client.query('RESET lock_timeout').catch(() => { });
    }
    throw new LockLadderExhausted(what, attempts);
}
/**
 * Waits, WITHOUT queueing for the lock (so the app is never blocked behind us), until no other
 * session has held a lock on `table` inside a transaction older than olderThanMs. Only then does
 * the ladder queue for ACCESS EXCLUSIVE, so its short lock_timeout rarely fires and the app's
 * queries rarely wait behind our request. Bounded by maxWaitMs; the ladder still applies after.
 * Returns how long it waited.
 */
async function waitForClearRoad(client, table, options) {
    const started = Date.now();
    let logged = false;
    for (;;) {
        const res = await client.query(`SELECT a.pid, (extract(epoch FROM now() - a.xact_start) * 1000)::int AS age_ms,
              a.application_name AS app
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.relation = to_regclass($1) AND l.granted AND l.pid <> pg_backend_pid()
          AND a.backend_type = 'client backend' AND a.xact_start < now() - make_interval(secs => $2::float8 / 1000)
        ORDER BY a.xact_start LIMIT 1`, [table, options.olderThanMs]);
        const holder = res.rows[0];
        const waited = Date.now() - started;
        if (!holder || waited >= options.maxWaitMs)
            return waited;
        if (!logged) {
            options.log?.(`waiting (without queueing) for pid ${holder.pid} (${holder.app || 'no application_name'}, transaction open ${holder.age_ms} ms) to release ${table}`);
            logged = true;
        }
        await options.sleep(Math.min(options.pollMs, options.maxWaitMs - waited));
    }
}

;// CONCATENATED MODULE: ./src/db/phase-support.ts




function ladderOptions(sleep, log, settings) {
    return {
        lockTimeoutMs: settings.lockTimeoutMs,
        retries: settings.lockRetries,
        sleep,
        log: message => log.info(message)
    };
}
function ladderText(settings) {
    const rungs = ladderTimeouts(settings.lockTimeoutMs, settings.lockRetries);
    return `lock_timeout ladder ${rungs[0]}..${rungs[rungs.length - 1]} ms, ${rungs.length} attempts`;
}
function slug(text, max = 40) {
    return (text
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, '-')
        .replace(/^-|-$/g, '')
        .slice(0, max)
        .replace(/-$/, '') || 'step');
}
/** Masks any URL/password that could have slipped into a message. */
function scrub(text, settings) {
    let out = text;
    if (settings)
        out = out.split(settings.url).join((0,redact/* maskUrl */.yP)(settings.url));
    return out.replace(/\b(postgres(?:ql)?:\/\/)([^:/@\s]+):([^@\s]+)@/gi, '$1$2:***@');
}
/** A failed StepResult from any error: RollbackErrors keep their hint; SQL errors name the field. */
function failedResult(err, field, settings, extra = {}) {
    const e = err instanceof util_errors/* RollbackError */.Z ? err : sqlError(err, field);
    const details = { ...extra.details };
    if (err instanceof LockLadderExhausted)
        details.lockAttempts = err.attempts;
    return {
        status: 'failed',
        changed: extra.changed ?? [],
        recovery: extra.recovery,
        details,
        error: {
            message: scrub(e.message, settings),
            hint: e.hint ? scrub(e.hint, settings) : undefined
        }
    };
}
/** The preflight session; under `plan` an unreachable database is a warning, not a failure. */
async function preflightSession(settings, only) {
    const resolved = settings();
    try {
        return { client: await connect(resolved, 'preflight'), settings: resolved };
    }
    catch (err) {
        if (!only.planning)
            throw err;
        only.log.warn(`${only.phase} preflight: ${err.message}`);
        return undefined;
    }
}

;// CONCATENATED MODULE: ./src/db/batch-update.ts




const BACKUP_SCHEMA = 'rollback_backup';
const CHANGED_AT = '_rollback_changed_at';
/** rollback_backup.<table>_<runId>, sanitised, ≤ 63 bytes. */
function backupTableName(table, runId, suffix = '') {
    const base = splitName(table).name;
    const run = runId.toLowerCase().replace(/[^a-z0-9_]+/g, '_');
    let name = `${base}${suffix}_${run}`;
    if (name.length > 63)
        name = `${base.slice(0, 30)}${suffix}_${run.slice(-(62 - 30 - suffix.length))}`;
    return `${BACKUP_SCHEMA}.${name.slice(0, 63)}`;
}
/** Each expression must parse alone as exactly one expression: nothing smuggled in. */
async function validateBatchSpec(spec, field) {
    if (spec.key in spec.set) {
        throw new util_errors/* RollbackError */.Z(`${field}.set.${spec.key}: the key column cannot be written (rows are found and restored by it)`, `remove ${spec.key} from ${field}.set`);
    }
    const where = await parseExpression(spec.where, `${field}.where`);
    const set = [];
    for (const [column, expr] of Object.entries(spec.set)) {
        set.push(await parseExpression(expr, `${field}.set.${column}`));
    }
    return { where, set };
}
const WHERE = placeholder(0);
const setPlaceholder = (i) => placeholder(i + 1);
function batchTemplate(spec, backupTable, first, bounded) {
    const t = ident(spec.table);
    const k = ident(spec.key);
    const columns = Object.keys(spec.set);
    const oldCols = columns.map((c, i) => `${ident(c)} AS __old_${i}`).join(', ');
    const setList = columns.map((c, i) => `${ident(c)} = ${setPlaceholder(i)}`).join(', ');
    const backupCols = [k, ...columns.map(c => ident(c))].join(', ');
    const selectOld = ['__k', ...columns.map((_, i) => `__old_${i}`)].join(', ');
    return `WITH src AS (
       SELECT ${k} AS __k, ${oldCols} FROM ${t}
        WHERE ${range(k, first, bounded)} AND ${WHERE}
        FOR UPDATE
     ), changed AS (
       UPDATE ${t} SET ${setList} FROM src
        WHERE ${t}.${k} = src.__k AND ${WHERE}
        RETURNING src.*
     )
     INSERT INTO ${ident(backupTable)} (${backupCols}) SELECT ${selectOld} FROM changed`;
}
function range(k, first, bounded) {
    return `${k} ${first ? '>=' : '>'} $1${bounded ? ` AND ${k} <= $2` : ''}`;
}
function countTemplate(spec, first, bounded) {
    const k = ident(spec.key);
    return `SELECT count(*)::text AS n FROM ${ident(spec.table)} WHERE ${range(k, first, bounded)} AND ${WHERE}`;
}
async function variants(build) {
    return {
        first: { bounded: await build(true, true), open: await build(true, false) },
        next: { bounded: await build(false, true), open: await build(false, false) }
    };
}
/** Builds every statement of a batch-update (validates the expressions first). */
async function batchStatements(spec, backupTable, field) {
    const parsed = await validateBatchSpec(spec, field);
    const exprs = [parsed.where, ...parsed.set];
    const where = [parsed.where];
    return {
        batch: await variants((f, b) => buildStatement(batchTemplate(spec, backupTable, f, b), exprs, field)),
        count: await variants((f, b) => buildStatement(countTemplate(spec, f, b), where, field)),
        estimate: await buildStatement(`EXPLAIN (FORMAT JSON) SELECT 1 FROM ${ident(spec.table)} WHERE ${WHERE}`, where, field)
    };
}
/** The variant for a range starting at (first) or after its lower key, open-ended or not. */
function variant(table, first, upper) {
    return table[first ? 'first' : 'next'][upper === null ? 'open' : 'bounded'];
}
function sqlParts(spec, backupTable) {
    const t = ident(spec.table);
    const k = ident(spec.key);
    const columns = Object.keys(spec.set);
    const backupCols = [k, ...columns.map(c => ident(c))].join(', ');
    const restore = `UPDATE ${t} AS t SET ${columns.map(c => `${ident(c)} = b.${ident(c)}`).join(', ')}\n` +
        `  FROM ${ident(backupTable)} AS b WHERE t.${k} = b.${k};`;
    return { t, k, backupCols, restore };
}
async function ensureBackupTable(client, spec, backupTable) {
    const { t, backupCols } = sqlParts(spec, backupTable);
    const { schema } = splitName(backupTable);
    if (schema)
        await client.query(`CREATE SCHEMA IF NOT EXISTS ${ident(schema)}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${ident(backupTable)} AS SELECT ${backupCols} FROM ${t} WITH NO DATA`);
    await client.query(`ALTER TABLE ${ident(backupTable)} ADD COLUMN IF NOT EXISTS ${CHANGED_AT} timestamptz NOT NULL DEFAULT now()`);
    const note = `emergency-rollback: old values of ${spec.table} rows changed by a batch-update (key ${spec.key}); restore: ${sqlParts(spec, backupTable).restore}`;
    await client.query(`COMMENT ON TABLE ${ident(backupTable)} IS ${quoteLiteral(note)}`);
}
function quoteLiteral(s) {
    return `'${s.replace(/'/g, "''")}'`;
}
function restoreSql(spec, backupTable) {
    return sqlParts(spec, backupTable).restore;
}
async function nextUpper(client, spec, from, first) {
    const { t, k } = sqlParts(spec, 'x');
    const res = await client.query(`SELECT ${k}::text AS k FROM ${t} WHERE ${k} ${first ? '>=' : '>'} $1 ORDER BY ${k} OFFSET $2 LIMIT 1`, [from, spec.batchSize - 1]);
    return res.rows[0]?.k ?? null;
}
/**
 * Rows matching the condition, counted in key ranges (COUNT_BATCH_ROWS) with the same adaptive
 * pause as the batches: one big count(*) would be a full scan competing with the app at once.
 */
const COUNT_BATCH_ROWS = 50_000;
async function countMatching(client, spec, statements, sleep = ms => new Promise(r => setTimeout(r, ms))) {
    const t = ident(spec.table);
    const k = ident(spec.key);
    const minRes = await client.query(`SELECT min(${k})::text AS k FROM ${t}`);
    let from = minRes.rows[0]?.k ?? null;
    let first = true;
    let total = 0;
    while (from !== null) {
        const started = Date.now();
        const op = first ? '>=' : '>';
        const upperRes = await client.query(`SELECT ${k}::text AS k FROM ${t} WHERE ${k} ${op} $1 ORDER BY ${k} OFFSET $2 LIMIT 1`, [from, COUNT_BATCH_ROWS - 1]);
        const upper = upperRes.rows[0]?.k ?? null;
        const res = await client.query(variant(statements.count, first, upper), upper === null ? [from] : [from, upper]);
        total += Number(res.rows[0]?.n ?? 0);
        if (upper === null)
            break;
        from = upper;
        first = false;
        await sleep(Math.max(spec.pauseMs, Date.now() - started));
    }
    return total;
}
/** The planner's estimate of matching rows (no scan): for preflight. */
async function estimateMatching(client, statements) {
    const res = await client.query(statements.estimate);
    return Math.round(res.rows[0]?.['QUERY PLAN'][0]?.Plan['Plan Rows'] ?? 0);
}
/**
 * One pass over the key range. Returns false when the time cap stopped it.
 * `client` must be an autocommit session (each batch is one statement = one transaction).
 */
async function pass(client, spec, options, state, statements, oneBatchOnly = false) {
    const { k, t } = sqlParts(spec, options.backupTable);
    const minRes = await client.query(`SELECT min(${k})::text AS k FROM ${t}`);
    let from = minRes.rows[0]?.k ?? null;
    let first = true;
    while (from !== null) {
        if (state.now() - state.started > spec.maxDurationMs)
            return false;
        const upper = await nextUpper(client, spec, from, first);
        const started = state.now();
        const { value, attempts } = await withLockLadder(client, `${options.field} batch ${from}..${upper ?? 'end'}`, options.ladder, () => client.query(variant(statements.batch, first, upper), upper !== null ? [from, upper] : [from]));
        const record = {
            pass: state.pass,
            batch: state.batches.length + 1,
            from,
            to: upper,
            rows: value.rowCount ?? 0,
            ms: state.now() - started,
            lockAttempts: attempts.length
        };
        state.batches.push(record);
        await options.onBatch?.(record);
        if (upper === null || oneBatchOnly)
            break;
        from = upper;
        first = false;
        // Adaptive pause: at least `pause`, and at least twice as long as the batch took, so the
        // cleanup holds row locks and a core at most a third of the time: the app keeps its latency.
        await options.ladder.sleep(Math.max(spec.pauseMs, 2 * record.ms));
    }
    return true;
}
async function runBatchUpdate(client, spec, options) {
    const now = options.now ?? Date.now;
    const statements = await batchStatements(spec, options.backupTable, options.field);
    await ensureBackupTable(client, spec, options.backupTable);
    const state = { pass: 0, batches: [], started: now(), now };
    let remaining = 0;
    let timeCapped = false;
    const maxPasses = options.maxPasses ?? 2;
    for (let p = 1; p <= maxPasses; p++) {
        state.pass = p;
        if (!(await pass(client, spec, options, state, statements))) {
            timeCapped = true;
            break;
        }
        remaining = await countMatching(client, spec, statements, options.ladder.sleep);
        if (remaining === 0)
            break;
        options.ladder.log?.(`${options.field}: ${remaining} rows still match after pass ${p} (they changed during the run)`);
    }
    if (timeCapped)
        remaining = await countMatching(client, spec, statements, options.ladder.sleep);
    const rowsChanged = state.batches.reduce((n, b) => n + b.rows, 0);
    return {
        rowsChanged,
        batches: state.batches.length,
        passes: state.pass,
        durationMs: now() - state.started,
        slowestBatchMs: Math.max(0, ...state.batches.map(b => b.ms)),
        lockRetries: state.batches.reduce((n, b) => n + b.lockAttempts - 1, 0),
        remaining,
        timeCapped,
        backupTable: options.backupTable,
        restoreSql: restoreSql(spec, options.backupTable)
    };
}
/**
 * Drill: the first batch inside a transaction that is rolled back (rows stay locked for one
 * batch only, never for the whole table), plus a count of eligible rows and a time estimate.
 */
async function drillBatchUpdate(client, spec, options) {
    const now = options.now ?? Date.now;
    const statements = await batchStatements(spec, options.backupTable, options.field);
    const eligibleRows = await countMatching(client, spec, statements, options.ladder.sleep);
    const totalRes = await client.query(`SELECT count(*)::text AS n FROM ${ident(spec.table)}`);
    const totalRows = Number(totalRes.rows[0]?.n ?? 0);
    const state = { pass: 1, batches: [], started: now(), now };
    await client.query('BEGIN');
    try {
        await ensureBackupTable(client, spec, options.backupTable);
        await pass(client, spec, { ...options, onBatch: undefined }, state, statements, true);
    }
    finally {
        await client.query('ROLLBACK');
    }
    const first = state.batches[0];
    const estimatedBatches = Math.max(1, Math.ceil(totalRows / spec.batchSize));
    const firstMs = first?.ms ?? 0;
    return {
        eligibleRows,
        firstBatchRows: first?.rows ?? 0,
        firstBatchMs: firstMs,
        estimatedBatches,
        estimatedMs: estimatedBatches * (firstMs + spec.pauseMs)
    };
}

;// CONCATENATED MODULE: ./src/db/write-capture.ts


/** Backup column marking rows written by the trigger (newer than any copy of them). */
const CAPTURED = '_rollback_captured';
/** The trigger (on the table) and its function (next to the backup table), ≤ 63 bytes each. */
function captureNames(spec) {
    const { schema, name } = splitName(spec.backupTable);
    const trigger = `er_capture_${name}`.slice(0, 63);
    return { trigger, fn: schema ? `${schema}.${trigger}` : trigger };
}
function functionSql(spec, fn) {
    const cols = [spec.key, ...spec.columns].map(ident);
    const values = cols.map(c => `NEW.${c}`);
    const updates = spec.columns.map(c => `${ident(c)} = EXCLUDED.${ident(c)}`);
    return `CREATE OR REPLACE FUNCTION ${ident(fn)}() RETURNS trigger LANGUAGE plpgsql AS $capture$
BEGIN
  INSERT INTO ${ident(spec.backupTable)} (${cols.join(', ')}, ${CAPTURED})
  VALUES (${values.join(', ')}, true)
  ON CONFLICT (${ident(spec.key)}) DO UPDATE SET ${[...updates, `${CAPTURED} = true`].join(', ')};
  RETURN NULL;
END
$capture$`;
}
/** Whether the trigger is on the table now. */
async function captureInstalled(client, spec) {
    const res = await client.query('SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass($1) AND tgname = $2', [spec.table, captureNames(spec).trigger]);
    return (res.rowCount ?? 0) > 0;
}
/**
 * Statements that (re)install the trigger (the backup table has its CAPTURED column); to run in one transaction (CREATE TRIGGER takes
 * SHARE ROW EXCLUSIVE: under the lock ladder). Replacing an existing trigger leaves no gap.
 * When the trigger was not there, earlier captured marks are stale: cleared.
 */
function installCaptureSql(spec, wasInstalled) {
    const { trigger, fn } = captureNames(spec);
    const watched = [spec.key, ...spec.columns].map(ident).join(', ');
    return [
        ...(wasInstalled
            ? []
            : [`UPDATE ${ident(spec.backupTable)} SET ${CAPTURED} = false WHERE ${CAPTURED}`]),
        functionSql(spec, fn),
        `DROP TRIGGER IF EXISTS ${ident(trigger)} ON ${ident(spec.table)}`,
        `CREATE TRIGGER ${ident(trigger)} AFTER INSERT OR UPDATE OF ${watched} ON ${ident(spec.table)}
       FOR EACH ROW EXECUTE FUNCTION ${ident(fn)}()`
    ];
}
/** Statements that remove the trigger: in the transaction that drops the columns. */
function removeCaptureSql(spec) {
    const { trigger, fn } = captureNames(spec);
    return [
        `DROP TRIGGER IF EXISTS ${ident(trigger)} ON ${ident(spec.table)}`,
        `DROP FUNCTION IF EXISTS ${ident(fn)}()`
    ];
}

;// CONCATENATED MODULE: ./src/db/drop-index.ts



const CONTYPES = {
    p: 'primary key',
    u: 'unique',
    x: 'exclusion',
    f: 'foreign key'
};
/** Catalog look-up; undefined when the index does not exist. */
async function inspectIndex(client, name) {
    const res = await client.query(`SELECT c.oid, n.nspname AS schema, c.relname AS name,
            t.oid::regclass::text AS table, i.indisvalid AS valid,
            pg_get_indexdef(c.oid) AS definition, pg_relation_size(c.oid)::text AS size
       FROM pg_class c
       JOIN pg_index i ON i.indexrelid = c.oid
       JOIN pg_class t ON t.oid = i.indrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.oid = to_regclass($1) AND c.relkind IN ('i', 'I')`, [name]);
    const row = res.rows[0];
    if (!row)
        return undefined;
    const cons = await client.query(`SELECT conname AS name, contype AS type, conrelid::regclass::text AS table
       FROM pg_constraint WHERE conindid = $1 ORDER BY conname`, [row.oid]);
    return {
        schema: row.schema,
        name: row.name,
        table: row.table,
        valid: row.valid,
        definition: row.definition,
        sizeBytes: Number(row.size),
        constraints: cons.rows.map(c => ({ ...c, type: CONTYPES[c.type] ?? c.type }))
    };
}
/** The statement that recreates the index without blocking writes. */
function recreateStatement(info) {
    return `${info.definition.replace(/^CREATE (UNIQUE )?INDEX /, 'CREATE $1INDEX CONCURRENTLY IF NOT EXISTS ')};`;
}
function constraintError(info, field) {
    const list = info.constraints.map(c => `${c.type} constraint ${c.name} on ${c.table}`).join(', ');
    return new util_errors/* RollbackError */.Z(`${field}: index ${info.schema}.${info.name} backs ${list}; DROP INDEX CONCURRENTLY cannot drop it`, `drop the constraint instead (ALTER TABLE ... DROP CONSTRAINT, a sql step run under the lock ladder) or remove the index from ${field}`);
}
async function dropIndexConcurrently(client, name, field, ladder) {
    const before = await inspectIndex(client, name);
    const qualified = before ? ident(`${before.schema}.${before.name}`) : ident(name);
    const statement = `DROP INDEX CONCURRENTLY IF EXISTS ${qualified}`;
    if (!before)
        return { dropped: false, attempts: [], statement };
    if (before.constraints.length > 0)
        throw constraintError(before, field);
    if (!before.valid) {
        ladder.log?.(`${field}: ${before.name} is INVALID (left by an interrupted concurrent build or drop): dropping it`);
    }
    try {
        const { attempts } = await withLockLadder(client, `${field} (${statement})`, ladder, () => 
        // Its own query(), never combined with other statements, never in a transaction.
        client.query(statement));
        const after = await inspectIndex(client, name);
        if (after) {
            throw new util_errors/* RollbackError */.Z(`${field}: ${statement} returned but the index still exists (valid: ${after.valid})`, 'rerun the step: DROP INDEX CONCURRENTLY IF EXISTS converges');
        }
        return { dropped: true, before, attempts, statement };
    }
    catch (err) {
        if (err instanceof util_errors/* RollbackError */.Z) {
            const after = await inspectIndex(client, name).catch(() => undefined);
            if (after && !after.valid) {
                // Keep the error's class (and its ladder attempts); add what was left behind.
                err.message = `${err.message}; ${after.schema}.${after.name} is left INVALID (not used by queries, still maintained on writes): a rerun drops it`;
            }
        }
        throw err;
    }
}

;// CONCATENATED MODULE: ./src/db/column-backup.ts






/** Longest we wait for long transactions on the table before queueing for ACCESS EXCLUSIVE. */
const CLEAR_ROAD_MAX_MS = 30_000;
async function columnsOf(client, table) {
    const res = await client.query(`SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
            a.attnotnull AS notnull, pg_get_expr(d.adbin, d.adrelid) AS default
       FROM pg_attribute a
       LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`, [table]);
    return res.rows.map(r => ({ name: r.name, type: r.type, notNull: r.notnull, default: r.default }));
}
async function inspectSchema(client, spec) {
    const exists = await client.query('SELECT to_regclass($1) IS NOT NULL AS ok', [
        spec.table
    ]);
    const tableExists = exists.rows[0]?.ok ?? false;
    const cols = tableExists ? await columnsOf(client, spec.table) : [];
    const present = cols.filter(c => spec.dropColumns.includes(c.name));
    const gone = spec.dropColumns.filter(c => !cols.some(x => x.name === c));
    const indexes = [];
    for (const name of spec.dropIndexes) {
        const info = await inspectIndex(client, qualifyLike(spec.table, name));
        if (info)
            indexes.push(info);
    }
    const dependentIndexes = [];
    if (present.length > 0) {
        const dep = await client.query(`SELECT DISTINCT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name
         FROM pg_depend d
         JOIN pg_class c ON c.oid = d.objid AND c.relkind IN ('i', 'I')
         JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
        WHERE d.classid = 'pg_class'::regclass AND d.refobjid = to_regclass($1)
          AND a.attname = ANY($2)`, [spec.table, present.map(c => c.name)]);
        for (const row of dep.rows) {
            const info = await inspectIndex(client, row.name);
            if (info && !indexes.some(i => i.schema === info.schema && i.name === info.name)) {
                dependentIndexes.push(info);
            }
        }
    }
    const backupCols = await columnsOf(client, spec.backupTable);
    let rows = 0;
    if (tableExists) {
        const est = await client.query(`SELECT greatest(reltuples, 0)::bigint::text AS n FROM pg_class WHERE oid = to_regclass($1)`, [spec.table]);
        rows = Number(est.rows[0]?.n ?? 0);
    }
    return {
        tableExists,
        keyExists: cols.some(c => c.name === spec.key),
        present,
        gone,
        indexes,
        dependentIndexes,
        backupExists: backupCols.length > 0,
        backupColumns: backupCols.map(c => c.name),
        rows
    };
}
/** An unqualified index name lives in the table's schema. */
function qualifyLike(table, index) {
    const { schema } = splitName(table);
    return index.includes('.') || !schema ? index : `${schema}.${index}`;
}
function alterStatement(spec) {
    return `ALTER TABLE ${ident(spec.table)} ${spec.dropColumns.map(c => `DROP COLUMN IF EXISTS ${ident(c)}`).join(', ')}`;
}
/** SQL that puts the columns and their data back (types and defaults as they were). */
function restoreColumnsSql(spec, columns, indexes) {
    if (columns.length === 0)
        return [];
    const t = ident(spec.table);
    const adds = columns
        .map(c => `ADD COLUMN IF NOT EXISTS ${ident(c.name)} ${c.type}${c.default ? ` DEFAULT ${c.default}` : ''}`)
        .join(', ');
    const sets = columns.map(c => `${ident(c.name)} = b.${ident(c.name)}`).join(', ');
    const out = [
        `ALTER TABLE ${t} ${adds};`,
        `UPDATE ${t} AS t SET ${sets} FROM ${ident(spec.backupTable)} AS b WHERE t.${ident(spec.key)} = b.${ident(spec.key)};  -- on a big table: in batches of ${ident(spec.key)} ranges`
    ];
    for (const c of columns.filter(c => c.notNull)) {
        out.push(`ALTER TABLE ${t} ALTER COLUMN ${ident(c.name)} SET NOT NULL;`);
    }
    out.push(...indexes.map(recreateStatement));
    return out;
}
/** Copy in key ranges of this many rows, pausing between them, so the app keeps its latency. */
const COPY_BATCH_ROWS = 10_000;
const COPY_PAUSE_MS = 10;
/**
 * Copies key + present columns into the backup table (created with a primary key on the key),
 * in key ranges of COPY_BATCH_ROWS with a pause between them: each range is one INSERT ... SELECT
 * inside the server (no rows in node) and an upsert, so a rerun after a crash refreshes the backup.
 */
async function copyColumns(client, spec, inspection, sleep = ms => new Promise(r => setTimeout(r, ms)), 
/** Runs once the backup table exists, before the first range is copied (installs the capture). */
beforeCopy = async () => { }) {
    const k = ident(spec.key);
    const t = ident(spec.table);
    const b = ident(spec.backupTable);
    const cols = inspection.present.map(c => ident(c.name));
    const list = [k, ...cols].join(', ');
    const { schema } = splitName(spec.backupTable);
    if (schema)
        await client.query(`CREATE SCHEMA IF NOT EXISTS ${ident(schema)}`);
    if (!inspection.backupExists) {
        await client.query(`CREATE TABLE ${b} AS SELECT ${list} FROM ${t} WITH NO DATA`);
        await client.query(`ALTER TABLE ${b} ADD PRIMARY KEY (${k})`);
        await client.query(`COMMENT ON TABLE ${b} IS ${quoteLiteral(`emergency-rollback: data of ${spec.table} columns ${inspection.present.map(c => c.name).join(', ')} (key ${spec.key}) before they were dropped`)}`);
    }
    else {
        const missing = inspection.present.filter(c => !inspection.backupColumns.includes(c.name));
        if (missing.length > 0 || !inspection.backupColumns.includes(spec.key)) {
            throw new util_errors/* RollbackError */.Z(`backup table ${spec.backupTable} already exists without column(s) ${[...missing.map(c => c.name), ...(inspection.backupColumns.includes(spec.key) ? [] : [spec.key])].join(', ')}`, `it belongs to something else: set schema[].backup-table to a new name`);
        }
    }
    await client.query(`ALTER TABLE ${b} ADD COLUMN IF NOT EXISTS ${CAPTURED} boolean NOT NULL DEFAULT false`);
    await beforeCopy();
    const updates = inspection.present.map(c => `${ident(c.name)} = EXCLUDED.${ident(c.name)}`);
    const minRes = await client.query(`SELECT min(${k})::text AS k FROM ${t}`);
    let from = minRes.rows[0]?.k ?? null;
    let first = true;
    let copied = 0;
    while (from !== null) {
        const op = first ? '>=' : '>';
        const upperRes = await client.query(`SELECT ${k}::text AS k FROM ${t} WHERE ${k} ${op} $1 ORDER BY ${k} OFFSET $2 LIMIT 1`, [from, COPY_BATCH_ROWS - 1]);
        const upper = upperRes.rows[0]?.k ?? null;
        const batchStarted = Date.now();
        const res = await client.query(
        // A row the capture trigger wrote is newer than this copy's snapshot of it: kept.
        `INSERT INTO ${b} AS dst (${list}) SELECT ${list} FROM ${t}
        WHERE ${k} ${op} $1${upper === null ? '' : ` AND ${k} <= $2`}
       ON CONFLICT (${k}) DO UPDATE SET ${updates.join(', ')} WHERE NOT dst.${CAPTURED}`, upper === null ? [from] : [from, upper]);
        copied += res.rowCount ?? 0;
        if (upper === null)
            break;
        from = upper;
        first = false;
        await sleep(Math.max(COPY_PAUSE_MS, Date.now() - batchStarted)); // adaptive, as in batch-update
    }
    return copied;
}
function captureSpec(spec, inspection) {
    return {
        table: spec.table,
        key: spec.key,
        columns: inspection.present.map(c => c.name),
        backupTable: spec.backupTable
    };
}
/** Installs the capture trigger in its own short transaction, under the lock ladder. */
async function installCapture(client, capture, what, ladder) {
    await withLockLadder(client, what, ladder, async () => {
        await client.query('BEGIN');
        try {
            const installed = await captureInstalled(client, capture);
            for (const sql of installCaptureSql(capture, installed))
                await client.query(sql);
            await client.query('COMMIT');
        }
        catch (err) {
            await client.query('ROLLBACK').catch(() => { });
            throw err;
        }
    });
}
async function runSchemaRollback(client, spec, field, ladder) {
    const timings = {};
    const time = async (label, fn) => {
        const started = Date.now();
        try {
            return await fn();
        }
        finally {
            timings[label] = Date.now() - started;
        }
    };
    const inspection = await inspectSchema(client, spec);
    if (!inspection.tableExists) {
        throw new util_errors/* RollbackError */.Z(`${field}.table: ${spec.table} does not exist`, `fix ${field}.table`);
    }
    const restore = restoreColumnsSql(spec, inspection.present, [
        ...inspection.indexes,
        ...inspection.dependentIndexes
    ]);
    // 1. Indexes first (listed ones, then any other index using a column we drop), concurrently.
    const droppedIndexes = [];
    let attempts = [];
    for (const info of [...inspection.indexes, ...inspection.dependentIndexes]) {
        const name = `${info.schema}.${info.name}`;
        const res = await time(`drop index ${name}`, () => dropIndexConcurrently(client, name, `${field}.drop-indexes`, ladder));
        attempts = attempts.concat(res.attempts);
        if (res.dropped)
            droppedIndexes.push(name);
    }
    if (inspection.present.length === 0) {
        return {
            copiedRows: 0,
            newRowsUnderLock: 0,
            droppedColumns: [],
            droppedIndexes,
            alreadyGone: inspection.gone,
            attempts,
            timings,
            restore
        };
    }
    if (!inspection.keyExists) {
        throw new util_errors/* RollbackError */.Z(`${field}.key: ${spec.table} has no column ${spec.key}`, `fix ${field}.key`);
    }
    // 2. Copy the data out (committed before anything is dropped).
    const capture = captureSpec(spec, inspection);
    const copiedRows = await time('copy to backup', () => copyColumns(client, spec, inspection, ladder.sleep, () => installCapture(client, capture, `${field} (capture writes during the copy)`, ladder)));
    const maxRes = await client.query(`SELECT max(${ident(spec.key)})::text AS k FROM ${ident(spec.backupTable)}`);
    const maxKey = maxRes.rows[0]?.k ?? null;
    // 3. One ALTER TABLE for all columns, with the rows inserted since the copy added under the lock.
    const cols = [spec.key, ...inspection.present.map(c => c.name)].map(ident).join(', ');
    let newRowsUnderLock = 0;
    let clearRoadMs = 0;
    const alterLadder = {
        ...ladder,
        beforeAttempt: async () => {
            clearRoadMs += await waitForClearRoad(client, spec.table, {
                olderThanMs: 100,
                maxWaitMs: CLEAR_ROAD_MAX_MS,
                pollMs: 50,
                sleep: ladder.sleep,
                log: ladder.log
            });
        }
    };
    const ladderResult = await time('drop columns', () => withLockLadder(client, `${field} (${alterStatement(spec)})`, alterLadder, async () => {
        await client.query('BEGIN');
        try {
            await client.query(`LOCK TABLE ${ident(spec.table)} IN ACCESS EXCLUSIVE MODE`);
            const delta = await client.query(`INSERT INTO ${ident(spec.backupTable)} (${cols}) SELECT ${cols} FROM ${ident(spec.table)}
            ${maxKey === null ? '' : `WHERE ${ident(spec.key)} > $1`} ON CONFLICT DO NOTHING`, maxKey === null ? [] : [maxKey]);
            newRowsUnderLock = delta.rowCount ?? 0;
            for (const sql of removeCaptureSql(capture))
                await client.query(sql);
            await client.query(alterStatement(spec));
            await client.query('COMMIT');
        }
        catch (err) {
            await client.query('ROLLBACK').catch(() => { });
            throw err;
        }
    }));
    attempts = attempts.concat(ladderResult.attempts);
    timings['waited for long transactions (not queued)'] = clearRoadMs;
    return {
        copiedRows,
        newRowsUnderLock,
        droppedColumns: inspection.present.map(c => c.name),
        droppedIndexes,
        alreadyGone: inspection.gone,
        attempts,
        timings,
        restore
    };
}
/** Drill: copy + lock + ALTER in one transaction that is rolled back; indexes checked in the catalog. */
async function drillSchemaRollback(client, spec, field, ladder) {
    const inspection = await inspectSchema(client, spec);
    if (!inspection.tableExists) {
        throw new util_errors/* RollbackError */.Z(`${field}.table: ${spec.table} does not exist`, `fix ${field}.table`);
    }
    const timings = {};
    const indexesChecked = [];
    for (const info of [...inspection.indexes, ...inspection.dependentIndexes]) {
        if (info.constraints.length > 0) {
            throw new util_errors/* RollbackError */.Z(`${field}.drop-indexes: ${info.name} backs constraint ${info.constraints.map(c => c.name).join(', ')}: cannot be dropped concurrently`);
        }
        indexesChecked.push(`${info.schema}.${info.name}${info.valid ? '' : ' (INVALID)'}: DROP INDEX CONCURRENTLY runs outside a transaction, not in the drill; catalog check OK`);
    }
    let copiedRows = 0;
    if (inspection.present.length > 0) {
        await client.query('BEGIN');
        try {
            let started = Date.now();
            copiedRows = await copyColumns(client, spec, inspection, ladder.sleep);
            timings['copy to backup'] = Date.now() - started;
            started = Date.now();
            // In a transaction a lock timeout aborts it: one rung only (the top one), no retries.
            await client.query(`SET LOCAL lock_timeout = ${Math.round(ladder.lockTimeoutMs)}`);
            // The capture trigger is installed after the copy here: in this transaction it would hold
            // its lock (blocking the app's writes) for the whole copy. Installed and removed, as in a run.
            const capture = captureSpec(spec, inspection);
            const installed = await captureInstalled(client, capture);
            for (const sql of installCaptureSql(capture, installed))
                await client.query(sql);
            for (const sql of removeCaptureSql(capture))
                await client.query(sql);
            await client.query(`LOCK TABLE ${ident(spec.table)} IN ACCESS EXCLUSIVE MODE`);
            timings['lock wait'] = Date.now() - started;
            started = Date.now();
            await client.query(alterStatement(spec));
            timings['drop columns'] = Date.now() - started;
        }
        finally {
            await client.query('ROLLBACK');
        }
    }
    return {
        copiedRows,
        timings,
        indexesChecked,
        wouldDrop: inspection.present.map(c => c.name),
        alreadyGone: inspection.gone
    };
}

;// CONCATENATED MODULE: ./src/phases/database/batch-update.ts
/** batch-update steps: a big UPDATE in primary-key batches, old values kept in a backup table. */





function batchSpec(step) {
    const b = step['batch-update'];
    return {
        table: b.table,
        key: b.key,
        set: b.set,
        where: b.where,
        batchSize: b['batch-size'],
        pauseMs: (0,duration/* parseDuration */.E9)(b.pause),
        maxDurationMs: (0,duration/* parseDuration */.E9)(b['max-duration'])
    };
}
/** set keys and the key must be columns of the table: every column written is in the backup. */
async function checkColumns(input, spec, f) {
    const cols = await columnsOf(input.client, spec.table);
    if (cols.length === 0) {
        throw new util_errors/* RollbackError */.Z(`${f}.table: ${spec.table} does not exist`, `fix ${f}.table`);
    }
    if (!cols.some(c => c.name === spec.key)) {
        throw new util_errors/* RollbackError */.Z(`${f}.key: ${spec.table} has no column ${spec.key}`, `fix ${f}.key`);
    }
    for (const c of Object.keys(spec.set)) {
        if (!cols.some(x => x.name === c)) {
            throw new util_errors/* RollbackError */.Z(`${f}.set: ${spec.table} has no column ${c}`, `fix ${f}.set.${c}`);
        }
    }
}
const batchUpdateStep = {
    plan(_runbook, step, runId) {
        const b = step['batch-update'];
        const set = Object.entries(b.set)
            .map(([c, e]) => `${c} = ${e}`)
            .join(', ');
        return [
            `UPDATE ${b.table} SET ${set} WHERE ${b.where} — in batches of ${b['batch-size']} ${b.key}s (one short transaction each, condition re-checked), ROW EXCLUSIVE + row locks of one batch at a time; ${b.pause} pause; at most ${b['max-duration']}`,
            `old values of changed rows kept in ${backupTableName(b.table, runId)}`
        ];
    },
    async validate(step, field) {
        await validateBatchSpec(batchSpec(step), `${field}.batch-update`);
        return undefined;
    },
    async inspect(input) {
        const spec = batchSpec(input.step);
        const f = `${input.field}.batch-update`;
        await checkColumns(input, spec, f);
        const statements = await batchStatements(spec, backupTableName(spec.table, input.runId), f);
        try {
            return { details: { eligibleRowsEstimate: await estimateMatching(input.client, statements) } };
        }
        catch (err) {
            throw sqlError(err, `${f}.where`);
        }
    },
    async run({ client, step, field, runId, ladder }) {
        const spec = batchSpec(step);
        const backupTable = backupTableName(spec.table, runId);
        const res = await runBatchUpdate(client, spec, {
            backupTable,
            ladder,
            field: `${field}.batch-update`
        });
        const details = { ...res };
        const recovery = res.rowsChanged > 0
            ? [
                `${res.rowsChanged} ${spec.table} rows reset; their old values are in ${backupTable}. Undo: ${res.restoreSql}`
            ]
            : undefined;
        const changed = res.rowsChanged > 0
            ? [`${res.rowsChanged} rows of ${spec.table} updated in ${res.batches} batches`]
            : [];
        if (res.timeCapped) {
            return {
                status: 'failed',
                changed,
                recovery,
                details,
                error: {
                    message: `${field}.batch-update: stopped at max-duration ${step['batch-update']['max-duration']} with ${res.remaining} rows still matching`,
                    hint: `rerun (it continues where it stopped) or raise ${field}.batch-update.max-duration`
                }
            };
        }
        return { status: res.remaining > 0 ? 'warned' : 'succeeded', changed, recovery, details };
    },
    async drill({ client, step, field, runId, ladder }) {
        const spec = batchSpec(step);
        const res = await drillBatchUpdate(client, spec, {
            backupTable: backupTableName(spec.table, runId),
            ladder: { ...ladder, retries: 0 },
            field: `${field}.batch-update`
        });
        return {
            status: 'succeeded',
            changed: [],
            details: { drill: 'first batch run in a transaction, rolled back', ...res }
        };
    }
};

;// CONCATENATED MODULE: ./src/phases/database/handler.ts
function ladderLine(runbook) {
    const db = runbook.database;
    return `lock_timeout ≤ ${db['lock-timeout']}, ${db['lock-retries']} retries`;
}

;// CONCATENATED MODULE: ./src/phases/database/drop-index.ts
/** drop-index steps: DROP INDEX CONCURRENTLY IF EXISTS, alone, under the lock ladder. */



const dropIndexStep = {
    plan(runbook, step) {
        return [
            `DROP INDEX CONCURRENTLY IF EXISTS ${step['drop-index']} — SHARE UPDATE EXCLUSIVE on its table (reads and writes continue); alone, outside any transaction; ${ladderLine(runbook)}`
        ];
    },
    async validate() {
        return undefined;
    },
    async inspect({ client, step, field, settings }) {
        const name = step['drop-index'];
        const info = await inspectIndex(client, name);
        if (!info) {
            return {
                changes: [`index ${name} is already gone: nothing to do`],
                details: { index: 'absent' }
            };
        }
        if (info.constraints.length > 0)
            throw constraintError(info, `${field}.drop-index`);
        return {
            details: {
                index: {
                    table: info.table,
                    valid: info.valid,
                    sizeBytes: info.sizeBytes,
                    definition: info.definition,
                    note: info.valid
                        ? undefined
                        : 'INVALID leftover of an interrupted concurrent operation: will be dropped'
                },
                ladder: ladderText(settings)
            }
        };
    },
    async run({ client, step, field, ladder }) {
        const name = step['drop-index'];
        const res = await dropIndexConcurrently(client, name, `${field}.drop-index`, ladder);
        const details = {
            statement: res.statement,
            lockAttempts: res.attempts,
            wasInvalid: res.before ? !res.before.valid : undefined
        };
        if (!res.dropped || !res.before) {
            return {
                status: 'succeeded',
                changed: [],
                details: { ...details, note: `${name} already gone` }
            };
        }
        const before = res.before;
        return {
            status: 'succeeded',
            changed: [
                `dropped index ${before.schema}.${before.name}${before.valid ? '' : ' (was INVALID)'}`
            ],
            recovery: [`recreate index ${name}: ${recreateStatement(before)}`],
            details
        };
    },
    async drill({ client, step, field }) {
        const info = await inspectIndex(client, step['drop-index']);
        if (info && info.constraints.length > 0)
            throw constraintError(info, `${field}.drop-index`);
        return {
            status: 'succeeded',
            changed: [],
            details: {
                drill: 'DROP INDEX CONCURRENTLY cannot run inside a transaction: checked in the catalog instead',
                index: info
                    ? {
                        table: info.table,
                        valid: info.valid,
                        sizeBytes: info.sizeBytes,
                        definition: info.definition
                    }
                    : 'already gone'
            }
        };
    }
};

;// CONCATENATED MODULE: ./src/db/sql-classifier.ts
/**
 * Splits runbook SQL with the real PostgreSQL parser (libpg-query, WASM) and classifies each
 * statement: the lock it takes, whether it must run outside a transaction (CONCURRENTLY, VACUUM),
 * whether it needs the lock_timeout ladder, and whether it is refused (with the reason).
 *
 * The parser is loaded lazily (see pg-parser.ts) so runs without SQL never pay for the WASM.
 */



/** Parses and classifies; throws RollbackError with the parser's message on a syntax error. */
async function classifySql(sql) {
    let result;
    try {
        result = (await parseSql(sql));
    }
    catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        const cursor = err instanceof SqlParseError ? err.cursorPosition : undefined;
        const near = cursor !== undefined ? ` near "${sql.slice(cursor, cursor + 30).trim()}"` : '';
        throw new util_errors/* RollbackError */.Z(`SQL does not parse: ${message}${near}`, 'fix the SQL in the runbook');
    }
    const out = [];
    for (const raw of result.stmts ?? []) {
        const start = raw.stmt_location ?? 0;
        const text = (raw.stmt_len === undefined ? sql.slice(start) : sql.substr(start, raw.stmt_len))
            .trim()
            .replace(/;\s*$/, '');
        if (!text || !raw.stmt)
            continue;
        out.push(classifyNode(raw.stmt, text));
    }
    return out;
}
function relName(rangeVar) {
    const rv = rangeVar;
    if (!rv?.relname)
        return '?';
    return rv.schemaname ? `${rv.schemaname}.${rv.relname}` : rv.relname;
}
function objectNames(objects) {
    return (objects ?? []).map(o => {
        // DROP SCHEMA/DATABASE name plain strings; other objects are (schema-qualified) lists.
        const plain = o.String?.sval;
        if (plain !== undefined)
            return plain;
        const items = (o.List?.items ?? []);
        return items.map(i => i.String?.sval ?? '?').join('.');
    });
}
function base(kind, sql) {
    return {
        sql,
        kind,
        label: kind.replace(/Stmt$/, '').toUpperCase(),
        lock: 'ACCESS EXCLUSIVE',
        targets: [],
        transactional: true,
        needsLadder: true,
        readOnly: false,
        droppedColumns: [],
        warnings: []
    };
}
// ALTER TABLE subcommands that take less than ACCESS EXCLUSIVE (PostgreSQL docs, ALTER TABLE).
const ALTER_LOCKS = {
    AT_SetStatistics: 'SHARE UPDATE EXCLUSIVE',
    AT_ClusterOn: 'SHARE UPDATE EXCLUSIVE',
    AT_DropCluster: 'SHARE UPDATE EXCLUSIVE',
    AT_SetRelOptions: 'SHARE UPDATE EXCLUSIVE',
    AT_ResetRelOptions: 'SHARE UPDATE EXCLUSIVE',
    AT_ValidateConstraint: 'SHARE UPDATE EXCLUSIVE',
    AT_AddIndexConstraint: 'SHARE UPDATE EXCLUSIVE'
};
const LOCK_ORDER = [
    'none',
    'ACCESS SHARE',
    'ROW SHARE',
    'ROW EXCLUSIVE',
    'SHARE UPDATE EXCLUSIVE',
    'SHARE',
    'SHARE ROW EXCLUSIVE',
    'EXCLUSIVE',
    'ACCESS EXCLUSIVE'
];
/** Lets the app read and write meanwhile: no lock ladder. */
function noLadder(c, lock) {
    c.lock = lock;
    c.needsLadder = false;
}
function selectStmt(c, body) {
    noLadder(c, 'ACCESS SHARE');
    c.label = body.intoClause ? 'SELECT INTO' : 'SELECT';
    c.readOnly = !body.intoClause && !body.lockingClause;
    if (body.lockingClause) {
        c.lock = 'ROW SHARE';
        c.rejected = 'SELECT ... FOR UPDATE/SHARE holds row locks: not a cleanup step';
    }
}
function explainStmt(c) {
    noLadder(c, 'ACCESS SHARE');
    c.label = 'EXPLAIN';
    c.readOnly = true;
}
function createTableAs(c, body) {
    noLadder(c, 'ACCESS SHARE');
    c.label = 'CREATE TABLE AS';
    c.targets = [relName(body.into?.rel)];
}
function dml(c, body, kind) {
    c.lock = 'ROW EXCLUSIVE';
    c.targets = [relName(body.relation)];
    const unbounded = (kind === 'UpdateStmt' || kind === 'DeleteStmt') && !body.whereClause;
    if (unbounded) {
        c.rejected = `${c.label} without WHERE touches every row of ${c.targets[0]} in one transaction: use a batch-update step (or add a WHERE)`;
    }
    else if (kind !== 'InsertStmt') {
        c.warnings.push(`${c.label} runs as one transaction: for many rows prefer a batch-update step (batches by primary key)`);
    }
}
function dropIndex(c, body, names) {
    if (!body.concurrent) {
        c.rejected = `plain DROP INDEX takes ACCESS EXCLUSIVE on the table and queues the app behind any reader: use DROP INDEX CONCURRENTLY IF EXISTS (or a drop-index step)`;
        return;
    }
    c.lock = 'SHARE UPDATE EXCLUSIVE';
    c.transactional = false;
    if (names.length !== 1) {
        c.rejected =
            'DROP INDEX CONCURRENTLY takes exactly one index (the server rejects a list): one statement per index';
    }
    if (body.behavior === 'DROP_CASCADE')
        c.rejected = 'DROP INDEX CONCURRENTLY does not support CASCADE';
}
/** DROP of objects that hold rows: the data is gone, nothing keeps it. */
const DATA_OBJECTS = ['OBJECT_TABLE', 'OBJECT_MATVIEW', 'OBJECT_SCHEMA', 'OBJECT_SEQUENCE'];
function dropStmt(c, body) {
    const removeType = String(body.removeType ?? '');
    const names = objectNames(body.objects);
    c.targets = names;
    c.label = `DROP ${removeType.replace(/^OBJECT_/, '').replace(/_/g, ' ')}${body.concurrent ? ' CONCURRENTLY' : ''}`;
    if (removeType === 'OBJECT_INDEX')
        dropIndex(c, body, names);
    if (DATA_OBJECTS.includes(removeType) || body.behavior === 'DROP_CASCADE') {
        c.destroysData = `${c.label} ${names.join(', ')}${body.behavior === 'DROP_CASCADE' ? ' CASCADE' : ''} destroys data without a backup`;
        c.warnings.push(c.destroysData);
    }
    if (removeType === 'OBJECT_TRIGGER')
        c.lock = 'SHARE ROW EXCLUSIVE';
    if (!body.missing_ok && removeType !== 'OBJECT_TRIGGER') {
        c.warnings.push('add IF EXISTS so a rerun converges');
    }
}
function alterTable(c, body) {
    c.label = 'ALTER TABLE';
    c.targets = [relName(body.relation)];
    const cmds = (body.cmds ?? []).map(n => n.AlterTableCmd);
    c.lock = 'none';
    for (const cmd of cmds) {
        const l = ALTER_LOCKS[cmd.subtype] ?? 'ACCESS EXCLUSIVE';
        if (LOCK_ORDER.indexOf(l) > LOCK_ORDER.indexOf(c.lock))
            c.lock = l;
        if (cmd.subtype === 'AT_DropColumn' && cmd.name) {
            c.droppedColumns.push(cmd.name);
            if (!cmd.missing_ok)
                c.warnings.push(`DROP COLUMN ${cmd.name}: add IF EXISTS`);
        }
        if (cmd.subtype === 'AT_AlterColumnType') {
            c.rejected =
                'ALTER COLUMN TYPE may rewrite the whole table under ACCESS EXCLUSIVE: not done during a rollback';
        }
    }
    if (c.droppedColumns.length > 0) {
        c.label = 'ALTER TABLE DROP COLUMN';
        c.destroysData = `DROP COLUMN ${c.droppedColumns.join(', ')} of ${c.targets[0]} destroys the column data without a backup (a schema step copies it first)`;
        c.warnings.push(c.destroysData);
    }
}
function indexStmt(c, body) {
    c.targets = [relName(body.relation)];
    if (!body.concurrent) {
        c.label = 'CREATE INDEX';
        c.lock = 'SHARE';
        c.rejected = 'CREATE INDEX blocks all writes while it builds: use CREATE INDEX CONCURRENTLY';
        return;
    }
    c.label = 'CREATE INDEX CONCURRENTLY';
    c.lock = 'SHARE UPDATE EXCLUSIVE';
    c.transactional = false;
    c.warnings.push('a failed CREATE INDEX CONCURRENTLY leaves an INVALID index to drop');
}
function hasOption(options, name) {
    return (options ?? []).some(p => p.DefElem?.defname === name);
}
function reindexStmt(c, body) {
    c.targets = [relName(body.relation)];
    if (!hasOption(body.params, 'concurrently')) {
        c.label = 'REINDEX';
        c.rejected = 'REINDEX blocks writes (and reads using the index): use REINDEX CONCURRENTLY';
        return;
    }
    c.label = 'REINDEX CONCURRENTLY';
    c.lock = 'SHARE UPDATE EXCLUSIVE';
    c.transactional = false;
}
function vacuumStmt(c, body) {
    noLadder(c, 'SHARE UPDATE EXCLUSIVE');
    c.label = body.is_vacuumcmd ? 'VACUUM' : 'ANALYZE';
    c.transactional = !body.is_vacuumcmd;
    if (hasOption(body.options, 'full'))
        c.rejected = 'VACUUM FULL rewrites the table under ACCESS EXCLUSIVE';
}
function truncateStmt(c, body) {
    c.label = 'TRUNCATE';
    c.targets = objectNamesFromRangeVars(body.relations);
    c.destroysData = `TRUNCATE ${c.targets.join(', ')} removes every row without a backup`;
    c.warnings.push(c.destroysData);
}
function transactionStmt(c, body) {
    noLadder(c, 'none');
    c.label = String(body.kind ?? 'TRANSACTION').replace(/^TRANS_STMT_/, '');
    c.rejected =
        'transaction control is the engine’s job (each statement runs on its own; drills roll back): remove BEGIN/COMMIT/ROLLBACK';
}
function sessionStmt(label) {
    return c => {
        noLadder(c, 'none');
        c.label = label;
    };
}
function showStmt(c) {
    noLadder(c, 'none');
    c.label = 'SHOW';
    c.readOnly = true;
}
function refused(label, reason) {
    return c => {
        c.label = label;
        c.rejected = reason;
    };
}
function createStmt(c) {
    noLadder(c, 'none');
    c.label = 'CREATE TABLE';
}
/** One handler per statement kind; anything else runs with the lock ladder and a warning. */
const HANDLERS = {
    SelectStmt: selectStmt,
    ExplainStmt: explainStmt,
    CreateTableAsStmt: createTableAs,
    InsertStmt: dml,
    UpdateStmt: dml,
    DeleteStmt: dml,
    MergeStmt: dml,
    DropStmt: dropStmt,
    AlterTableStmt: alterTable,
    IndexStmt: indexStmt,
    ReindexStmt: reindexStmt,
    VacuumStmt: vacuumStmt,
    TruncateStmt: truncateStmt,
    TransactionStmt: transactionStmt,
    VariableSetStmt: sessionStmt('SET'),
    VariableShowStmt: showStmt,
    LockStmt: refused('LOCK TABLE', 'explicit LOCK TABLE is held until commit: not allowed in runbook SQL'),
    DoStmt: refused('DO', 'DO runs code the engine cannot classify (locks, transactions): write plain statements'),
    CallStmt: refused('CALL', 'CALL runs code the engine cannot classify (locks, transactions): write plain statements'),
    CopyStmt: refused('COPY', 'COPY is not supported in runbook SQL'),
    ClusterStmt: refused('CLUSTER', 'CLUSTER rewrites the table under ACCESS EXCLUSIVE'),
    DropdbStmt: refused('DROP DATABASE', 'DROP DATABASE is not a cleanup step'),
    DropOwnedStmt: refused('DROP OWNED', 'DROP OWNED drops every object of a role: not a cleanup step'),
    CreateStmt: createStmt
};
function unclassified(c, _body, kind) {
    c.warnings.push(`statement kind ${kind} is not classified: run with the lock ladder`);
}
function classifyNode(stmt, sql) {
    const [kind, body] = Object.entries(stmt)[0];
    const c = base(kind, sql);
    (HANDLERS[kind] ?? unclassified)(c, body, kind);
    // Session, role, transaction or server state changed behind the engine's back (SET and its
    // equivalents, wherever they hide in the statement): refused whatever the kind.
    c.rejected ??= sessionStateChange(body, kind);
    return c;
}
function objectNamesFromRangeVars(relations) {
    return (relations ?? []).map(r => relName(r.RangeVar));
}
/** One line for plans and reports: "<sql> — <lock>, <where it runs>". */
function describeStatement(s) {
    const where = s.transactional ? 'own transaction' : 'alone, outside any transaction';
    const ladder = s.needsLadder ? ', lock_timeout ladder' : '';
    const oneLine = s.sql.replace(/\s+/g, ' ');
    const short = oneLine.length > 160 ? `${oneLine.slice(0, 157)}...` : oneLine;
    return `${short} — ${s.lock} lock${s.targets.length ? ` on ${s.targets.join(', ')}` : ''}; ${where}${ladder}`;
}

;// CONCATENATED MODULE: ./src/phases/database/sql.ts






const oneLine = (sql, max = 100) => sql.replace(/\s+/g, ' ').slice(0, max);
/** Parses and classifies a step's SQL; refused statements and unacknowledged data loss throw. */
async function classifyOrThrow(sql, field, acknowledged = false) {
    let stmts;
    try {
        stmts = await classifySql(sql);
    }
    catch (err) {
        const e = err instanceof util_errors/* RollbackError */.Z ? err : new util_errors/* RollbackError */.Z(String(err));
        throw new util_errors/* RollbackError */.Z(`${field}: ${e.message}`, e.hint);
    }
    if (stmts.length === 0)
        throw new util_errors/* RollbackError */.Z(`${field} has no SQL statement`, `fix ${field}`);
    const bad = stmts.find(s => s.rejected);
    if (bad) {
        throw new util_errors/* RollbackError */.Z(`${field}: refusing "${oneLine(bad.sql)}": ${bad.rejected}`, `change ${field}`);
    }
    const destructive = stmts.find(s => s.destroysData);
    if (destructive && !acknowledged) {
        const step = field.replace(/\.sql$/, '');
        throw new util_errors/* RollbackError */.Z(`${field}: "${oneLine(destructive.sql)}" ${destructive.destroysData} and ${step}.acknowledge-data-loss is not true`, `if the data may go, add acknowledge-data-loss: true to ${step}; otherwise keep the data first (a schema step backs columns up)`);
    }
    return stmts;
}
/** The plan line of a statement; destroyed data is said in capitals so no approver misses it. */
function describe(s) {
    const line = describeStatement(s);
    return s.destroysData ? `${line} — DATA LOSS (acknowledged): ${s.destroysData}` : line;
}
function summary(s) {
    return {
        sql: s.sql,
        kind: s.label,
        lock: s.lock,
        transactional: s.transactional,
        lockLadder: s.needsLadder,
        destroysData: s.destroysData,
        warnings: s.warnings
    };
}
const acknowledged = (step) => step['acknowledge-data-loss'] === true;
const DML_CHECKED_BY_EXPLAIN = ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'MERGE', 'CREATE TABLE AS'];
async function checkStatement(client, stmt, field) {
    if (DML_CHECKED_BY_EXPLAIN.includes(stmt.label)) {
        try {
            await client.query(`EXPLAIN ${stmt.sql}`);
        }
        catch (err) {
            throw sqlError(err, `${field}.sql`, stmt.sql);
        }
    }
    if (stmt.label === 'DROP INDEX CONCURRENTLY') {
        const info = await inspectIndex(client, stmt.targets[0] ?? '');
        if (info && info.constraints.length > 0)
            throw constraintError(info, `${field}.sql`);
    }
}
async function runStatement(client, stmt, field, ladder) {
    const started = Date.now();
    if (!stmt.needsLadder) {
        const value = await client.query(stmt.sql);
        return { sql: stmt.sql, ms: Date.now() - started, rows: value.rowCount };
    }
    const { value, attempts } = await withLockLadder(client, `${field}.sql`, ladder, () => client.query(stmt.sql));
    return { sql: stmt.sql, ms: Date.now() - started, rows: value.rowCount, lockAttempts: attempts };
}
function ranLine(t, stmt) {
    const rows = t.rows !== null ? ` (${t.rows} rows)` : '';
    const loss = stmt?.destroysData ? ` — data destroyed without a backup (acknowledged)` : '';
    return `ran: ${oneLine(t.sql)}${rows}${loss}`;
}
async function run({ client, step, field, settings, ladder }) {
    const stmts = await classifyOrThrow(step.sql ?? '', `${field}.sql`, acknowledged(step));
    const timings = [];
    for (const stmt of stmts) {
        try {
            timings.push(await runStatement(client, stmt, field, ladder));
        }
        catch (err) {
            const e = err instanceof util_errors/* RollbackError */.Z ? err : sqlError(err, `${field}.sql`, stmt.sql);
            return failedResult(e, `${field}.sql`, settings, {
                changed: timings.map((t, i) => ranLine(t, stmts[i])),
                details: { statements: timings }
            });
        }
    }
    return {
        status: 'succeeded',
        changed: timings.map((t, i) => ranLine(t, stmts[i])),
        details: { statements: timings }
    };
}
/** Longest a drill lets one statement hold its locks in production. */
const DRILL_STATEMENT_MS = 10_000;
/** A statement that cannot run in the drill's transaction: explained, checked in the catalog. */
async function explainOutside(client, stmt, field) {
    let check = 'cannot run inside a transaction: not run in the drill';
    if (stmt.label === 'DROP INDEX CONCURRENTLY') {
        const info = await inspectIndex(client, stmt.targets[0] ?? '');
        if (info && info.constraints.length > 0)
            throw constraintError(info, `${field}.sql`);
        check = `${check}; catalog: ${info ? `index exists (valid: ${info.valid})` : 'index already gone'}`;
    }
    return { sql: stmt.sql, drill: check };
}
/** Runs one statement inside the drill's transaction; undefined `ms` cap reached = stopped. */
async function drillStatement(client, stmt, field) {
    const started = Date.now();
    try {
        const res = await client.query(stmt.sql);
        const drill = 'ran in a transaction, rolled back';
        return {
            line: { sql: stmt.sql, ms: Date.now() - started, rows: res.rowCount, drill },
            stopped: false
        };
    }
    catch (err) {
        if (err.code !== '57014')
            throw sqlError(err, `${field}.sql`, stmt.sql);
        const drill = `stopped after ${DRILL_STATEMENT_MS / 1000} s: a run would hold its locks at least that long; consider batch-update`;
        return { line: { sql: stmt.sql, ms: Date.now() - started, drill }, stopped: true };
    }
}
async function drill({ client, step, field, settings }) {
    const stmts = await classifyOrThrow(step.sql ?? '', `${field}.sql`, acknowledged(step));
    const report = [];
    let stoppedEarly = false;
    await client.query('BEGIN');
    try {
        await client.query(`SET LOCAL lock_timeout = ${Math.round(settings.lockTimeoutMs)}`);
        // A drill must not hold production locks for long: whatever takes longer is stopped and
        // reported (the real run would hold those locks just as long).
        await client.query(`SET LOCAL statement_timeout = ${DRILL_STATEMENT_MS}`);
        for (const stmt of stmts) {
            if (!stmt.transactional) {
                report.push(await explainOutside(client, stmt, field));
                continue;
            }
            const { line, stopped } = await drillStatement(client, stmt, field);
            report.push(line);
            if ((stoppedEarly = stopped))
                break;
        }
    }
    finally {
        await client.query('ROLLBACK').catch(() => { });
    }
    return {
        status: stoppedEarly ? 'warned' : 'succeeded',
        changed: [],
        details: { statements: report }
    };
}
const sqlStep = {
    plan(_runbook, step) {
        const lines = (step.sql ?? '')
            .split(/;\s*\n/)
            .map(s => s.trim())
            .filter(Boolean)
            .map(s => `${oneLine(s, 10_000)} — lock level classified by the PostgreSQL parser at preflight`);
        if (acknowledged(step)) {
            lines.push('DATA LOSS acknowledged: statements of this step may destroy data without a backup');
        }
        return lines;
    },
    async validate(step, field) {
        const stmts = await classifyOrThrow(step.sql ?? '', `${field}.sql`, acknowledged(step));
        return { changes: stmts.map(describe), details: { statements: stmts.map(summary) } };
    },
    async inspect({ client, step, field }) {
        const stmts = await classifyOrThrow(step.sql ?? '', `${field}.sql`, acknowledged(step));
        for (const stmt of stmts)
            await checkStatement(client, stmt, field);
        return undefined;
    },
    run,
    drill
};

;// CONCATENATED MODULE: ./src/phases/database/index.ts





/** The runbook rules guarantee exactly one kind per step. */
function handlerFor(step) {
    if (step['drop-index'] !== undefined)
        return dropIndexStep;
    if (step['batch-update'] !== undefined)
        return batchUpdateStep;
    return sqlStep;
}

;// CONCATENATED MODULE: ./src/phases/database.ts






const databasePhase = {
    phase: 'database',
    needs: ['database', 'log', 'clock', 'run'],
    preflightShares: 'database',
    plan(runbook, request) {
        const steps = runbook.database?.steps ?? [];
        return steps.map((step, index) => ({
            id: `database:${index + 1}-${slug(step.name)}`,
            phase: 'database',
            title: step.name,
            changes: handlerFor(step).plan(runbook, step, request.runId),
            mutates: true,
            stage: 'main',
            action: { index, field: `database.steps[${index}]`, step }
        }));
    },
    warmUp(steps) {
        // sql and batch-update steps are parsed at preflight.
        if (steps.some(s => s.action.step['drop-index'] === undefined))
            preloadSqlParser();
    },
    async preflight(steps, deps) {
        // Parse and classify everything first: refuse unsafe SQL before connecting.
        const notes = new Map();
        for (const s of steps) {
            const { step, field } = s.action;
            const check = await handlerFor(step).validate(step, field);
            if (check)
                notes.set(s.id, { stepId: s.id, ...check });
        }
        const session = await preflightSession(deps.database.settings, {
            planning: deps.run.request.command === 'plan',
            log: deps.log,
            phase: 'database'
        });
        if (!session)
            return { notes: [...notes.values()] };
        const { client, settings } = session;
        try {
            await checkRunLockFree(client);
            for (const s of steps) {
                const { step, field } = s.action;
                const input = { client, step, field, settings, runId: deps.run.request.runId };
                const check = await handlerFor(step).inspect(input);
                if (check)
                    notes.set(s.id, merge(notes.get(s.id) ?? { stepId: s.id }, check));
            }
        }
        finally {
            await client.end().catch(() => { });
        }
        return { notes: [...notes.values()] };
    },
    async run(step, deps) {
        return execute(step, deps, false);
    },
    async drill(step, deps) {
        return execute(step, deps, true);
    }
};
/** The inspection's changes replace the parse's; details add up. */
function merge(note, check) {
    return {
        stepId: note.stepId,
        changes: check.changes ?? note.changes,
        details: note.details || check.details ? { ...note.details, ...check.details } : undefined
    };
}
async function execute(step, deps, drill) {
    const { field } = step.action;
    let settings;
    try {
        settings = deps.database.settings();
        const s = settings;
        const handler = handlerFor(step.action.step);
        return await withRunLock(s, 'database', () => withClient(s, 'database', client => {
            const input = {
                client,
                step: step.action.step,
                field,
                runId: deps.run.request.runId,
                settings: s,
                ladder: ladderOptions(deps.clock.sleep, deps.log, s)
            };
            return drill ? handler.drill(input) : handler.run(input);
        }));
    }
    catch (err) {
        return failedResult(err, field, settings);
    }
}

// EXTERNAL MODULE: ./src/model.ts
var model = __nccwpck_require__(182);
;// CONCATENATED MODULE: ./src/git/files.ts
/**
 * The runbook's `files` section applied to the checkout: remove the listed paths (one commit) and
 * require every protected path to exist. Used by the git step before it pushes, and by the files
 * step when the git phase does not run.
 */

/** Paths of `rules.remove` present in `rev`. */
async function presentPaths(git, paths, rev) {
    const present = [];
    for (const path of paths)
        if (await git.pathExists(rev, path))
            present.push(path);
    return present;
}
async function missingProtected(git, rules, rev) {
    const present = new Set(await presentPaths(git, rules.protect, rev));
    return rules.protect.filter(path => !present.has(path));
}
/** Removes the present `remove` paths from HEAD in one commit, then checks `protect`. */
async function applyFileRules(git, rules, runLabel) {
    const removed = await presentPaths(git, rules.remove, 'HEAD');
    for (const path of removed)
        await git.remove(path);
    let commit;
    if (await git.hasStagedChanges()) {
        const list = removed.map(path => `- ${path}`).join('\n');
        commit = await git.commit(`Remove files (emergency rollback)\n\nRemoved by emergency-rollback ${runLabel}:\n${list}\n`);
    }
    await requireProtected(git, rules, 'HEAD');
    return { removed, kept: rules.protect, commit };
}
async function requireProtected(git, rules, rev) {
    const missing = await missingProtected(git, rules, rev);
    if (missing.length === 0)
        return;
    throw new util_errors/* RollbackError */.Z(`files: protected path(s) missing after the rollback: ${missing.join(', ')}; nothing was pushed`, 'the rollback would delete files the runbook protects: narrow the revert range (or choose another reset-to), or update files.protect');
}

// EXTERNAL MODULE: ./src/runbook/constants.ts
var constants = __nccwpck_require__(9469);
// EXTERNAL MODULE: ./src/git/paths.ts
var paths = __nccwpck_require__(2320);
;// CONCATENATED MODULE: ./src/git/inputs.ts
/**
 * The git step's action, resolved purely from the runbook and the request (request wins), and
 * validation of the user-supplied revisions. Only hex SHAs are accepted: no refs, no options.
 */



const SHA = /^[0-9a-f]{7,40}$/i;
function fileRules(runbook) {
    return {
        protect: (runbook.files?.protect ?? []).map(paths/* normalizePath */.Fd),
        remove: (runbook.files?.remove ?? []).map(paths/* normalizePath */.Fd)
    };
}
function gitAction(runbook, request) {
    const git = runbook.git;
    return {
        strategy: request.gitStrategy ?? git?.strategy ?? 'revert',
        remote: git?.remote ?? 'origin',
        branch: request.branch ?? git?.branch ?? 'main',
        revert: request.revert ?? git?.revert,
        resetTo: request.resetTo ?? git?.['reset-to'],
        confirm: request.confirm,
        mode: git?.['revert-mode'] ?? 'single',
        mainline: git?.mainline,
        backupRefPrefix: (git?.['backup-ref-prefix'] ?? 'refs/rollback/backup').replace(/\/+$/, ''),
        files: fileRules(runbook),
        skip: nothingRequested(runbook, request)
    };
}
/**
 * A runbook may carry a git section whose commits only come with an incident. Without any of
 * them (and no explicit strategy/confirm in the request) the git step is reported as skipped,
 * so a flags-only emergency run is not blocked; anything partial is validated (and refused).
 */
function nothingRequested(runbook, request) {
    const given = [
        request.gitStrategy,
        request.revert,
        request.resetTo,
        request.confirm,
        runbook.git?.revert,
        runbook.git?.['reset-to']
    ];
    if (given.some(value => value !== undefined && value !== ''))
        return undefined;
    return 'no commits given: set revert (A..B or SHAs) or git-strategy reset with reset-to and confirm';
}
/** A run id as one ref name component (backup refs, drill branches). */
function refComponent(runId) {
    const safe = runId.replace(/[^A-Za-z0-9._-]/g, '-').replace(/\.{2,}/g, '.');
    return safe.replace(/^[.-]+|(\.lock)?[.]*$/g, '') || 'run';
}
function checkBranch(branch) {
    if (!constants/* BRANCH_NAME */.P9.test(branch)) {
        throw new util_errors/* RollbackError */.Z(`branch: "${branch}" is not a valid branch name`, 'use a plain branch name such as main');
    }
}
/** `A..B` or SHAs separated by spaces/commas; throws RollbackError naming the `revert` field. */
function parseRevertSpec(raw) {
    const text = raw?.trim() ?? '';
    if (text === '') {
        throw new util_errors/* RollbackError */.Z('revert: no commits to revert', 'set revert (input) or git.revert (runbook) to a range A..B or a list of SHAs');
    }
    if (text.includes('..')) {
        const match = /^([0-9a-f]{7,40})\.\.([0-9a-f]{7,40})$/i.exec(text);
        if (!match) {
            throw new util_errors/* RollbackError */.Z(`revert: "${text}" is not a range of two SHAs`, 'write the range as OLD..NEW with two commit SHAs (7-40 hex characters), e.g. a1b2c3d..e4f5a6b; OLD itself is kept');
        }
        return { kind: 'range', from: match[1].toLowerCase(), to: match[2].toLowerCase() };
    }
    const shas = text.split(/[\s,]+/).filter(Boolean);
    const bad = shas.filter(sha => !SHA.test(sha));
    if (bad.length > 0) {
        throw new util_errors/* RollbackError */.Z(`revert: ${bad.map(b => `"${b}"`).join(', ')} ${bad.length > 1 ? 'are not SHAs' : 'is not a SHA'}`, 'list commit SHAs (7-40 hex characters) separated by spaces or commas, or give a range A..B');
    }
    return { kind: 'list', shas: [...new Set(shas.map(s => s.toLowerCase()))] };
}
function checkShaInput(field, value) {
    const text = value?.trim() ?? '';
    if (text === '') {
        const hint = field === 'reset-to'
            ? 'set reset-to (input) or git.reset-to (runbook) to the known-good commit SHA'
            : 'a reset discards commits: repeat the target SHA (full or its first 7+ characters) in confirm';
        throw new util_errors/* RollbackError */.Z(`${field}: required for git-strategy reset`, hint);
    }
    if (!SHA.test(text)) {
        throw new util_errors/* RollbackError */.Z(`${field}: "${text}" is not a commit SHA`, 'give a commit SHA: 7 to 40 hex characters');
    }
    return text.toLowerCase();
}
function describeAction(action) {
    if (action.strategy === 'reset') {
        return [
            `reset ${action.remote}/${action.branch} to ${action.resetTo ?? '(reset-to not set)'} with --force-with-lease`,
            `push the current head to ${action.backupRefPrefix}/<run-id> first (nothing is lost)`
        ];
    }
    const how = action.mode === 'single' ? 'in one commit' : 'one commit per reverted commit';
    return [
        `revert ${action.revert ?? '(revert not set)'} on ${action.remote}/${action.branch} ${how}, then push`
    ];
}

;// CONCATENATED MODULE: ./src/git/push.ts
/**
 * Pushes, and turns a rejection into an operator-fit RollbackError: the server's own message plus
 * a hint (lease lost to a racing push, protected branch, token permissions), never a stack trace.
 */

async function pushOrExplain(git, target, options = {}) {
    const out = await git.push(target.remote, target.src, target.dst, options);
    if (out.exitCode === 0)
        return;
    throw explainPushFailure(target, out, options);
}
/** The server's words: `remote:` lines, porcelain rejection reasons, error/fatal lines. */
function serverMessage(out) {
    const lines = `${out.stdout}\n${out.stderr}`.split('\n').map(l => l.trim());
    const picked = lines.filter(l => /^remote:\s*\S/.test(l) || /^!\t/.test(l) || /^(error|fatal):/.test(l));
    return [...new Set(picked.map(l => l.replace(/^!\t/, '').replace(/\t/g, ' ')))].join('\n');
}
function explainPushFailure(target, out, options) {
    const text = `${out.stdout}\n${out.stderr}`;
    const server = serverMessage(out) || text.trim();
    const where = `${target.remote} ${target.dst}`;
    if (/stale info/.test(text) && options.lease) {
        return new util_errors/* RollbackError */.Z(`push to ${where} refused: someone pushed meanwhile (the lease expected ${options.lease.expected.slice(0, 7)}); the branch was not changed`, 'look at what was pushed, then rerun: the rollback starts again from the new head');
    }
    if (/\[rejected\]|fetch first|non-fast-forward/.test(text)) {
        return new util_errors/* RollbackError */.Z(`push to ${where} rejected: the branch moved while the rollback ran\n${server}`, 'rerun the rollback: it starts again from the new head');
    }
    if (/remote rejected|protected|hook declined/i.test(text)) {
        return new util_errors/* RollbackError */.Z(`push to ${where} was rejected by the server:\n${server}`, 'the branch is probably protected: allow the rollback actor to push (or force-push, for reset) in the branch rules, or use git-strategy revert, which needs no force push; if the server names a missing permission (contents: write, workflows), grant it to github-token');
    }
    if (/\b(401|403)\b|permission|denied|authentication|could not read username/i.test(text)) {
        return new util_errors/* RollbackError */.Z(`push to ${where} was refused by the server:\n${server}`, 'the token needs write access to the repository: give github-token `contents: write` (workflow `permissions:`), or use a token of an account allowed to push');
    }
    return new util_errors/* RollbackError */.Z(`push to ${where} failed:\n${server}`, 'check the remote and the token');
}

;// CONCATENATED MODULE: external "node:os"
const external_node_os_namespaceObject = require("node:os");
;// CONCATENATED MODULE: ./src/git/history.ts
const FIRST_DEEPEN_STEP = 25;
/**
 * Deepens the branch history until `ready()` holds or nothing is left to fetch. Returns whether
 * `ready()` held in the end, and what was fetched.
 */
async function deepenUntil(session, ready) {
    const { git } = session;
    const shallow = await git.isShallow();
    // Counting is only worth it when something may be fetched (a full clone never deepens).
    const commitsBefore = shallow ? await git.countCommits(session.tip) : 0;
    const bytesBefore = shallow ? await git.objectBytes() : 0;
    const deepenSteps = [];
    let ok = await ready();
    let step = FIRST_DEEPEN_STEP;
    while (!ok && (await git.isShallow())) {
        await git.fetch(session.remote, [`+refs/heads/${session.branch}:${session.tipRef}`], {
            deepen: step
        });
        deepenSteps.push(step);
        ok = await ready();
        step *= 2;
    }
    const stats = {
        shallow,
        deepenSteps,
        commitsBefore,
        commitsAfter: deepenSteps.length ? await git.countCommits(session.tip) : commitsBefore,
        bytesFetched: deepenSteps.length ? Math.max(0, (await git.objectBytes()) - bytesBefore) : 0
    };
    return { ok, stats };
}
function describeFetch(stats) {
    if (stats.deepenSteps.length === 0)
        return undefined;
    const kib = (stats.bytesFetched / 1024).toFixed(1);
    return (`shallow checkout deepened by ${stats.commitsAfter - stats.commitsBefore} commits ` +
        `(${stats.deepenSteps.length} fetch(es), ${kib} KiB) to reach the commits needed`);
}
/** Fetch statistics of one run, accumulated over its preflight and its run. */
function mergeStats(first, second) {
    if (!first)
        return second;
    return {
        shallow: first.shallow,
        deepenSteps: [...first.deepenSteps, ...second.deepenSteps],
        commitsBefore: first.commitsBefore,
        commitsAfter: Math.max(first.commitsAfter, second.commitsAfter),
        bytesFetched: first.bytesFetched + second.bytesFetched
    };
}

;// CONCATENATED MODULE: ./src/git/revert.ts
/**
 * Option B of the seed: revert commits. Resolves which commits to revert (newest first), skips the
 * ones already reverted on the branch (so a rerun never reverts twice), and applies the reverts
 * locally; a conflict restores the working tree and names the conflicting paths.
 */



const revert_short = (sha) => sha.slice(0, 7);
const describeCommit = (c) => `${revert_short(c.sha)} ${c.subject}`;
function wantedRevs(spec) {
    return spec.kind === 'range' ? [spec.from, spec.to] : spec.shas;
}
async function allPresent(git, spec) {
    for (const rev of wantedRevs(spec))
        if (!(await git.revParse(rev)))
            return false;
    // A listed commit needs its parent to be reverted; at a shallow boundary it has none.
    if (spec.kind === 'list')
        for (const rev of spec.shas)
            if (!(await git.revParse(`${rev}^`)))
                return false;
    return true;
}
async function resolveRevert(session, action) {
    const spec = parseRevertSpec(action.revert);
    const { git } = session;
    const { stats } = await deepenUntil(session, () => allPresent(git, spec));
    for (const rev of wantedRevs(spec)) {
        if (!(await git.revParse(rev))) {
            throw new util_errors/* RollbackError */.Z(`revert: commit ${rev} is not in the history of ${session.remote}/${session.branch}`, 'check the SHA (git log --oneline on the branch); only commits of the branch can be reverted');
        }
    }
    const ordered = spec.kind === 'range'
        ? await rangeCommits(session, spec, action)
        : await listCommits(session, spec);
    refuseUnhandledMerges(ordered, action);
    const reverted = await alreadyReverted(git, session.tip, ordered.at(-1).sha);
    // A revert inside the request of a commit also in it: the pair cancels, revert neither.
    const inRequest = new Set(ordered.map(c => c.sha));
    for (const [target, by] of reverted)
        if (inRequest.has(target) && inRequest.has(by))
            reverted.set(by, target);
    const skipped = ordered.flatMap(commit => {
        const by = reverted.get(commit.sha);
        return by ? [{ commit, by }] : [];
    });
    return { targets: ordered.filter(c => !reverted.has(c.sha)), skipped, fetch: stats };
}
async function rangeCommits(session, spec, action) {
    const { git } = session;
    const range = `${spec.from}..${spec.to}`;
    if (!(await git.isAncestor(spec.from, spec.to))) {
        throw new util_errors/* RollbackError */.Z(`revert: bad range ${range}: ${revert_short(spec.from)} is not an ancestor of ${revert_short(spec.to)}`, 'write the range OLD..NEW: OLD is the last good commit (kept), NEW the newest commit to revert');
    }
    await requireOnBranch(session, spec.to);
    // With a mainline, merges are reverted against it and their merged side comes with them.
    const commits = await git.log([range], { firstParent: action.mainline !== undefined });
    if (commits.length === 0) {
        throw new util_errors/* RollbackError */.Z(`revert: range ${range} is empty`, 'OLD must be older than NEW');
    }
    return commits;
}
async function listCommits(session, spec) {
    const { git } = session;
    const shas = [];
    for (const rev of spec.shas) {
        const sha = (await git.revParse(rev));
        await requireOnBranch(session, sha);
        shas.push(sha);
    }
    const base = (await git.mergeBase(shas));
    // Branch order (newest first) of everything between the oldest listed commit and the tip.
    const history = [...(await git.log([session.tip, `^${base}`])), ...(await git.log(['-1', base]))];
    const wanted = new Set(shas);
    return history.filter(c => wanted.has(c.sha));
}
async function requireOnBranch(session, sha) {
    if (!(await session.git.isAncestor(sha, session.tip))) {
        throw new util_errors/* RollbackError */.Z(`revert: commit ${revert_short(sha)} is not on ${session.remote}/${session.branch}`, 'only commits that are part of the branch can be reverted; check the SHA and the branch');
    }
}
function refuseUnhandledMerges(commits, action) {
    const merge = commits.find(c => c.parents.length > 1);
    if (!merge || action.mainline !== undefined)
        return;
    throw new util_errors/* RollbackError */.Z(`revert: ${describeCommit(merge)} is a merge commit and needs a mainline parent`, 'set git.mainline: 1 in the runbook to revert merges against the branch they were merged into, or list the merged commits instead of the merge');
}
/** Commits reverted after `oldest` on the branch, by their reverting commit (reverts of reverts cancel). */
async function alreadyReverted(git, tip, oldest) {
    const revertsOf = new Map();
    for (const { sha, body } of await git.messages([tip, `^${oldest}`])) {
        const targets = [...body.matchAll(/This reverts commit ([0-9a-f]{40})/g)].map(m => m[1]);
        if (targets.length > 0)
            revertsOf.set(sha, targets);
    }
    const undone = new Set([...revertsOf.values()].flat());
    const reverted = new Map();
    for (const [by, targets] of revertsOf) {
        if (undone.has(by))
            continue;
        for (const target of targets)
            if (!reverted.has(target))
                reverted.set(target, by);
    }
    return reverted;
}
/**
 * Batches of commits one `git revert` can take: all of them in single mode without merges (one
 * process), else one at a time (`-m` only applies to merges, per-commit mode commits each).
 */
function batches(plan, action) {
    const merges = plan.targets.some(c => c.parents.length > 1);
    if (action.mode === 'single' && !merges)
        return [plan.targets];
    return plan.targets.map(c => [c]);
}
/** Reverts `plan.targets` on the current HEAD; returns the commits made. */
async function applyReverts(git, plan, action, runLabel) {
    if (plan.targets.length === 0)
        return [];
    const start = (await git.revParse('HEAD'));
    const made = [];
    for (const batch of batches(plan, action)) {
        const mainline = batch[0].parents.length > 1 ? action.mainline : undefined;
        const { conflict } = await git.revertNoCommit(batch.map(c => c.sha), mainline);
        if (conflict) {
            await git.abortRevert(start);
            const commit = plan.targets.find(c => c.sha === conflict.sha) ?? batch[0];
            throw new util_errors/* RollbackError */.Z(`revert: reverting ${describeCommit(commit)} conflicts in ${conflict.paths.join(', ')}; working tree restored, nothing pushed`, 'later commits changed the same lines: include them in the revert (widen the range), or revert by hand and rerun');
        }
        if (action.mode === 'per-commit' && (await git.hasStagedChanges())) {
            made.push(await git.commit(revertMessage(batch, runLabel)));
        }
    }
    if (action.mode === 'single' && (await git.hasStagedChanges())) {
        made.push(await git.commit(revertMessage(plan.targets, runLabel)));
    }
    return made;
}
function revertMessage(commits, runLabel) {
    const subject = commits.length === 1
        ? `Revert "${commits[0].subject}"`
        : `Revert ${commits.length} commits (emergency rollback)`;
    const list = commits.map(c => `- ${describeCommit(c)}`).join('\n');
    const trailers = commits.map(c => `This reverts commit ${c.sha}.`).join('\n');
    return `${subject}\n\nReverted by emergency-rollback ${runLabel}, newest first:\n${list}\n\n${trailers}\n`;
}

;// CONCATENATED MODULE: ./src/git/reset.ts
/**
 * Option A of the seed: reset the branch to a known-good commit. Guarded: `confirm` must repeat
 * the target SHA, the target must be an ancestor of the branch, the discarded head is pushed to a
 * backup ref first, and the branch moves only with --force-with-lease on the head we saw.
 */





function confirmMismatch(confirm, target) {
    return new util_errors/* RollbackError */.Z(`confirm: "${confirm}" does not match reset-to ${target}`, 'a reset discards commits: type the reset-to SHA (full, or its first 7+ characters) into confirm');
}
async function resolveReset(session, action) {
    const wanted = checkShaInput('reset-to', action.resetTo);
    const confirm = checkShaInput('confirm', action.confirm);
    if (!wanted.startsWith(confirm) && !confirm.startsWith(wanted))
        throw confirmMismatch(confirm, wanted);
    const { git } = session;
    const { stats } = await deepenUntil(session, async () => (await git.revParse(wanted)) !== undefined);
    let target = await git.revParse(wanted);
    if (!target && wanted.length === 40) {
        // Not on the branch; maybe elsewhere on the remote (then it is not an ancestor).
        await git.fetch(session.remote, [wanted]).catch(() => undefined);
        target = await git.revParse(wanted);
    }
    if (!target) {
        throw new util_errors/* RollbackError */.Z(`reset-to: commit ${wanted} not found on ${session.remote}/${session.branch}`, 'check the SHA: git log --oneline on the branch lists the known-good commits');
    }
    if (!target.startsWith(confirm))
        throw confirmMismatch(confirm, target);
    if (!(await git.isAncestor(target, session.tip))) {
        throw new util_errors/* RollbackError */.Z(`reset-to: ${revert_short(target)} is not an ancestor of ${session.remote}/${session.branch}`, 'a reset only goes back along the branch: pick a commit from its history, or use git-strategy revert');
    }
    const discarded = await git.log([session.tip, `^${target}`]);
    return { target, discarded, fetch: stats };
}
function backupRef(action, runId) {
    return `${action.backupRefPrefix}/${refComponent(runId)}`;
}
/**
 * Pushes the branch's old head to `backup`, then HEAD to the branch with a lease on that head.
 * A lost lease removes the backup again when the old head is still on the branch (the backup only
 * duplicated it), keeps it otherwise, and throws.
 */
async function backupThenForcePush(session, backup) {
    const { git, remote, branch, tip } = session;
    await pushOrExplain(git, { remote, src: tip, dst: backup });
    try {
        await pushOrExplain(git, { remote, src: 'HEAD', dst: `refs/heads/${branch}` }, { lease: { ref: `refs/heads/${branch}`, expected: tip } });
    }
    catch (err) {
        if (await stillOnBranch(session)) {
            await git.deleteRemoteRef(remote, backup);
            throw err;
        }
        if (!(err instanceof util_errors/* RollbackError */.Z))
            throw err;
        throw new util_errors/* RollbackError */.Z(`${err.message}; the old head ${revert_short(tip)} is kept at ${backup}`, err.hint);
    }
}
/** Whether the old head is still part of the remote branch (so the backup ref is redundant). */
async function stillOnBranch(session) {
    const { git, remote, branch, tip } = session;
    try {
        const ref = `refs/emergency-rollback/lease-check/${branch}`;
        await git.fetch(remote, [`+refs/heads/${branch}:${ref}`]);
        return await git.isAncestor(tip, ref);
    }
    catch {
        return false;
    }
}

;// CONCATENATED MODULE: ./src/git/rollback.ts
/**
 * The git step's sequence, shared by preflight, run and drill:
 * resolve (read-only: which commits, deepening a shallow checkout as needed) ->
 * prepare (local only: checkout, revert or reset, remove files, check protected files) ->
 * publish (run: push; drill: push a scratch branch and delete it).
 */








/**
 * Resolves the commits. `earlier`: what preflight fetched to deepen a shallow checkout, reported
 * with this resolution's own fetches.
 */
async function resolve(session, action, log, earlier) {
    const resolved = await resolveOnce(session, action);
    const fetched = describeFetch(fetchStats(resolved));
    if (fetched)
        log.info(fetched);
    const stats = mergeStats(earlier, fetchStats(resolved));
    if (resolved.kind === 'revert')
        resolved.revert.fetch = stats;
    else
        resolved.reset.fetch = stats;
    return resolved;
}
async function resolveOnce(session, action) {
    if (action.strategy === 'reset')
        return { kind: 'reset', reset: await resolveReset(session, action) };
    return { kind: 'revert', revert: await resolveRevert(session, action) };
}
function fetchStats(resolved) {
    return resolved.kind === 'revert' ? resolved.revert.fetch : resolved.reset.fetch;
}
/** The concrete changes, for plan/preflight notes. */
function describeResolved(resolved, session, action) {
    const where = `${session.remote}/${session.branch}`;
    const lines = [];
    if (resolved.kind === 'revert') {
        const { targets, skipped } = resolved.revert;
        if (targets.length === 0)
            lines.push(`nothing to revert on ${where}: every commit is already reverted`);
        else
            lines.push(`revert ${targets.length} commit(s) on ${where}, newest first:`);
        lines.push(...targets.map(c => `  ${describeCommit(c)}`));
        lines.push(...skipped.map(s => `  skip ${describeCommit(s.commit)} (already reverted by ${revert_short(s.by)})`));
    }
    else {
        const { target, discarded } = resolved.reset;
        if (discarded.length === 0)
            lines.push(`nothing to reset: ${where} is already at ${revert_short(target)}`);
        else {
            lines.push(`reset ${where} from ${revert_short(session.tip)} to ${revert_short(target)}, discarding ${discarded.length} commit(s) (kept at ${action.backupRefPrefix}/<run-id>):`);
            lines.push(...discarded.map(c => `  ${describeCommit(c)}`));
        }
    }
    if (action.files.remove.length)
        lines.push(`remove if present: ${action.files.remove.join(', ')}`);
    if (action.files.protect.length)
        lines.push(`must exist before pushing: ${action.files.protect.join(', ')}`);
    const fetched = describeFetch(fetchStats(resolved));
    if (fetched)
        lines.push(fetched);
    return lines;
}
async function requireClean(session) {
    if (await session.git.isClean())
        return;
    throw new util_errors/* RollbackError */.Z(`the checkout ${session.git.workdir} has uncommitted changes`, 'run the rollback on a clean checkout (actions/checkout gives one); nothing was changed');
}
/** Builds the rollback result locally on a detached HEAD. Nothing leaves the machine. */
async function prepare(session, action, resolved, label) {
    const { git } = session;
    await requireClean(session);
    await git.checkoutDetached(resolved.kind === 'reset' ? resolved.reset.target : session.tip);
    const commits = resolved.kind === 'revert' ? await applyReverts(git, resolved.revert, action, label) : [];
    const files = await applyFileRules(git, action.files, label);
    if (files.commit)
        commits.push(files.commit);
    const head = (await git.revParse('HEAD'));
    const upToDate = head === session.tip || (await git.treeOf(head)) === (await git.treeOf(session.tip));
    return { head, commits, files, upToDate };
}
/**
 * Preflight's dry run: `prepare` in a throw-away worktree of the same repository, so a conflict or
 * a protected file the rollback would delete fails the run before any phase changed anything.
 */
async function trial(session, action, resolved, where) {
    const dir = await (0,promises_.mkdtemp)((0,external_node_path_.join)(where.tempDir ?? (0,external_node_os_namespaceObject.tmpdir)(), 'rollback-trial-'));
    const path = (0,external_node_path_.join)(dir, 'tree');
    await session.git.addWorktree(path, session.tip);
    try {
        return await prepare({ ...session, git: session.git.at(path) }, action, resolved, where.label);
    }
    finally {
        await session.git.removeWorktree(path);
        await (0,promises_.rm)(dir, { recursive: true, force: true });
    }
}
/** What the report keeps about the step. */
function details(resolved, prepared, extra = {}) {
    const base = resolved.kind === 'revert'
        ? {
            strategy: 'revert',
            reverted: resolved.revert.targets.map(c => c.sha),
            alreadyReverted: resolved.revert.skipped.map(s => ({ sha: s.commit.sha, by: s.by }))
        }
        : {
            strategy: 'reset',
            resetTo: resolved.reset.target,
            discarded: resolved.reset.discarded.map(c => c.sha)
        };
    return {
        ...base,
        commits: prepared?.commits ?? [],
        filesRemoved: prepared?.files.removed ?? [],
        filesKept: prepared?.files.kept ?? [],
        fetch: fetchStats(resolved),
        ...extra
    };
}

;// CONCATENATED MODULE: ./src/git/auth.ts
/**
 * Push/fetch authentication the way actions/checkout does it: an
 * `http.<origin>/.extraheader = AUTHORIZATION: basic base64(x-access-token:TOKEN)` entry in a config
 * file, never on a command line or in a log. The entry lives in a private file (mode 0600) outside
 * the checkout, pulled in with `include.path`, and both are removed afterwards.
 *
 * The included section starts with an empty `extraheader =`, which resets any header an earlier
 * `actions/checkout` persisted for the same origin (two Authorization headers make GitHub fail).
 */



/** The `scheme://host[:port]/` prefix an http(s) remote URL is matched with, else undefined. */
function httpOrigin(remoteUrl) {
    if (!/^https?:\/\//i.test(remoteUrl))
        return undefined;
    try {
        const url = new URL(remoteUrl);
        return `${url.protocol}//${url.host}/`;
    }
    catch {
        return undefined;
    }
}
function basicCredential(token) {
    return Buffer.from(`x-access-token:${token}`, 'utf8').toString('base64');
}
/**
 * Configures the token for `remoteUrl` when it is an http(s) URL; returns a no-op otherwise.
 * `tempDir` is where the private config file goes (RUNNER_TEMP under Actions).
 */
async function configureAuth(git, remoteUrl, token, tempDir = (0,external_node_os_namespaceObject.tmpdir)()) {
    const origin = httpOrigin(remoteUrl);
    if (!token || !origin)
        return { remove: async () => { } };
    const dir = await (0,promises_.mkdtemp)((0,external_node_path_.join)(tempDir, 'rollback-auth-'));
    const file = (0,external_node_path_.join)(dir, 'auth.gitconfig');
    const section = `[http "${origin}"]\n\textraheader =\n\textraheader = AUTHORIZATION: basic ${basicCredential(token)}\n`;
    await (0,promises_.writeFile)(file, section, { mode: 0o600 });
    await git.addLocalConfig('include.path', file);
    return {
        remove: async () => {
            await git.unsetLocalConfig('include.path', file);
            await (0,promises_.rm)(dir, { recursive: true, force: true });
        }
    };
}

// EXTERNAL MODULE: external "string_decoder"
var external_string_decoder_ = __nccwpck_require__(3193);
// EXTERNAL MODULE: external "os"
var external_os_ = __nccwpck_require__(857);
// EXTERNAL MODULE: external "events"
var external_events_ = __nccwpck_require__(4434);
;// CONCATENATED MODULE: external "child_process"
const external_child_process_namespaceObject = require("child_process");
// EXTERNAL MODULE: external "path"
var external_path_ = __nccwpck_require__(6928);
// EXTERNAL MODULE: external "assert"
var external_assert_ = __nccwpck_require__(2613);
// EXTERNAL MODULE: external "fs"
var external_fs_ = __nccwpck_require__(9896);
;// CONCATENATED MODULE: ./node_modules/@actions/io/lib/io-util.js
var __awaiter = (undefined && undefined.__awaiter) || function (thisArg, _arguments, P, generator) {
    function adopt(value) { return value instanceof P ? value : new P(function (resolve) { resolve(value); }); }
    return new (P || (P = Promise))(function (resolve, reject) {
        function fulfilled(value) { try { step(generator.next(value)); } catch (e) { reject(e); } }
        function rejected(value) { try { step(generator["throw"](value)); } catch (e) { reject(e); } }
        function step(result) { result.done ? resolve(result.value) : adopt(result.value).then(fulfilled, rejected); }
        step((generator = generator.apply(thisArg, _arguments || [])).next());
    });
};


const { chmod, copyFile, lstat, mkdir, open: io_util_open, readdir, rename, rm, rmdir, stat, symlink, unlink } = external_fs_.promises;
// export const {open} = 'fs'
const IS_WINDOWS = process.platform === 'win32';
/**
 * Custom implementation of readlink to ensure Windows junctions
 * maintain trailing backslash for backward compatibility with Node.js < 24
 *
 * In Node.js 20, Windows junctions (directory symlinks) always returned paths
 * with trailing backslashes. Node.js 24 removed this behavior, which breaks
 * code that relied on this format for path operations.
 *
 * This implementation restores the Node 20 behavior by adding a trailing
 * backslash to all junction results on Windows.
 */
function readlink(fsPath) {
    return __awaiter(this, void 0, void 0, function* () {
        const result = yield fs.promises.readlink(fsPath);
        // On Windows, restore Node 20 behavior: add trailing backslash to all results
        // since junctions on Windows are always directory links
        if (IS_WINDOWS && !result.endsWith('\\')) {
            return `${result}\\`;
        }
        return result;
    });
}
// See https://github.com/nodejs/node/blob/d0153aee367422d0858105abec186da4dff0a0c5/deps/uv/include/uv/win.h#L691
const UV_FS_O_EXLOCK = 0x10000000;
const READONLY = external_fs_.constants.O_RDONLY;
function exists(fsPath) {
    return __awaiter(this, void 0, void 0, function* () {
        try {
            yield stat(fsPath);
        }
        catch (err) {
            if (err.code === 'ENOENT') {
                return false;
            }
            throw err;
        }
        return true;
    });
}
function isDirectory(fsPath_1) {
    return __awaiter(this, arguments, void 0, function* (fsPath, useStat = false) {
        const stats = useStat ? yield stat(fsPath) : yield lstat(fsPath);
        return stats.isDirectory();
    });
}
/**
 * On OSX/Linux, true if path starts with '/'. On Windows, true for paths like:
 * \, \hello, \\hello\share, C:, and C:\hello (and corresponding alternate separator cases).
 */
function isRooted(p) {
    p = normalizeSeparators(p);
    if (!p) {
        throw new Error('isRooted() parameter "p" cannot be empty');
    }
    if (IS_WINDOWS) {
        return (p.startsWith('\\') || /^[A-Z]:/i.test(p) // e.g. \ or \hello or \\hello
        ); // e.g. C: or C:\hello
    }
    return p.startsWith('/');
}
/**
 * Best effort attempt to determine whether a file exists and is executable.
 * @param filePath    file path to check
 * @param extensions  additional file extensions to try
 * @return if file exists and is executable, returns the file path. otherwise empty string.
 */
function tryGetExecutablePath(filePath, extensions) {
    return __awaiter(this, void 0, void 0, function* () {
        let stats = undefined;
        try {
            // test file exists
            stats = yield stat(filePath);
        }
        catch (err) {
            if (err.code !== 'ENOENT') {
                // eslint-disable-next-line no-console
                console.log(`Unexpected error attempting to determine if executable file exists '${filePath}': ${err}`);
            }
        }
        if (stats && stats.isFile()) {
            if (IS_WINDOWS) {
                // on Windows, test for valid extension
                const upperExt = external_path_.extname(filePath).toUpperCase();
                if (extensions.some(validExt => validExt.toUpperCase() === upperExt)) {
                    return filePath;
                }
            }
            else {
                if (isUnixExecutable(stats)) {
                    return filePath;
                }
            }
        }
        // try each extension
        const originalFilePath = filePath;
        for (const extension of extensions) {
            filePath = originalFilePath + extension;
            stats = undefined;
            try {
                stats = yield stat(filePath);
            }
            catch (err) {
                if (err.code !== 'ENOENT') {
                    // eslint-disable-next-line no-console
                    console.log(`Unexpected error attempting to determine if executable file exists '${filePath}': ${err}`);
                }
            }
            if (stats && stats.isFile()) {
                if (IS_WINDOWS) {
                    // preserve the case of the actual file (since an extension was appended)
                    try {
                        const directory = external_path_.dirname(filePath);
                        const upperName = external_path_.basename(filePath).toUpperCase();
                        for (const actualName of yield readdir(directory)) {
                            if (upperName === actualName.toUpperCase()) {
                                filePath = external_path_.join(directory, actualName);
                                break;
                            }
                        }
                    }
                    catch (err) {
                        // eslint-disable-next-line no-console
                        console.log(`Unexpected error attempting to determine the actual case of the file '${filePath}': ${err}`);
                    }
                    return filePath;
                }
                else {
                    if (isUnixExecutable(stats)) {
                        return filePath;
                    }
                }
            }
        }
        return '';
    });
}
function normalizeSeparators(p) {
    p = p || '';
    if (IS_WINDOWS) {
        // convert slashes on Windows
        p = p.replace(/\//g, '\\');
        // remove redundant slashes
        return p.replace(/\\\\+/g, '\\');
    }
    // remove redundant slashes
    return p.replace(/\/\/+/g, '/');
}
// on Mac/Linux, test the execute bit
//     R   W  X  R  W X R W X
//   256 128 64 32 16 8 4 2 1
function isUnixExecutable(stats) {
    return ((stats.mode & 1) > 0 ||
        ((stats.mode & 8) > 0 &&
            process.getgid !== undefined &&
            stats.gid === process.getgid()) ||
        ((stats.mode & 64) > 0 &&
            process.getuid !== undefined &&
            stats.uid === process.getuid()));
}
// Get the path of cmd.exe in windows
function getCmdPath() {
    var _a;
    return (_a = process.env['COMSPEC']) !== null && _a !== void 0 ? _a : `cmd.exe`;
}
//# sourceMappingURL=io-util.js.map
;// CONCATENATED MODULE: ./node_modules/@actions/io/lib/io.js
var io_awaiter = (undefined && undefined.__awaiter) || function (thisArg, _arguments, P, generator) {
    function adopt(value) { return value instanceof P ? value : new P(function (resolve) { resolve(value); }); }
    return new (P || (P = Promise))(function (resolve, reject) {
        function fulfilled(value) { try { step(generator.next(value)); } catch (e) { reject(e); } }
        function rejected(value) { try { step(generator["throw"](value)); } catch (e) { reject(e); } }
        function step(result) { result.done ? resolve(result.value) : adopt(result.value).then(fulfilled, rejected); }
        step((generator = generator.apply(thisArg, _arguments || [])).next());
    });
};



/**
 * Copies a file or folder.
 * Based off of shelljs - https://github.com/shelljs/shelljs/blob/9237f66c52e5daa40458f94f9565e18e8132f5a6/src/cp.js
 *
 * @param     source    source path
 * @param     dest      destination path
 * @param     options   optional. See CopyOptions.
 */
function cp(source_1, dest_1) {
    return io_awaiter(this, arguments, void 0, function* (source, dest, options = {}) {
        const { force, recursive, copySourceDirectory } = readCopyOptions(options);
        const destStat = (yield ioUtil.exists(dest)) ? yield ioUtil.stat(dest) : null;
        // Dest is an existing file, but not forcing
        if (destStat && destStat.isFile() && !force) {
            return;
        }
        // If dest is an existing directory, should copy inside.
        const newDest = destStat && destStat.isDirectory() && copySourceDirectory
            ? path.join(dest, path.basename(source))
            : dest;
        if (!(yield ioUtil.exists(source))) {
            throw new Error(`no such file or directory: ${source}`);
        }
        const sourceStat = yield ioUtil.stat(source);
        if (sourceStat.isDirectory()) {
            if (!recursive) {
                throw new Error(`Failed to copy. ${source} is a directory, but tried to copy without recursive flag.`);
            }
            else {
                yield cpDirRecursive(source, newDest, 0, force);
            }
        }
        else {
            if (path.relative(source, newDest) === '') {
                // a file cannot be copied to itself
                throw new Error(`'${newDest}' and '${source}' are the same file`);
            }
            yield io_copyFile(source, newDest, force);
        }
    });
}
/**
 * Moves a path.
 *
 * @param     source    source path
 * @param     dest      destination path
 * @param     options   optional. See MoveOptions.
 */
function mv(source_1, dest_1) {
    return io_awaiter(this, arguments, void 0, function* (source, dest, options = {}) {
        if (yield ioUtil.exists(dest)) {
            let destExists = true;
            if (yield ioUtil.isDirectory(dest)) {
                // If dest is directory copy src into dest
                dest = path.join(dest, path.basename(source));
                destExists = yield ioUtil.exists(dest);
            }
            if (destExists) {
                if (options.force == null || options.force) {
                    yield rmRF(dest);
                }
                else {
                    throw new Error('Destination already exists');
                }
            }
        }
        yield mkdirP(path.dirname(dest));
        yield ioUtil.rename(source, dest);
    });
}
/**
 * Remove a path recursively with force
 *
 * @param inputPath path to remove
 */
function rmRF(inputPath) {
    return io_awaiter(this, void 0, void 0, function* () {
        if (ioUtil.IS_WINDOWS) {
            // Check for invalid characters
            // https://docs.microsoft.com/en-us/windows/win32/fileio/naming-a-file
            if (/[*"<>|]/.test(inputPath)) {
                throw new Error('File path must not contain `*`, `"`, `<`, `>` or `|` on Windows');
            }
        }
        try {
            // note if path does not exist, error is silent
            yield ioUtil.rm(inputPath, {
                force: true,
                maxRetries: 3,
                recursive: true,
                retryDelay: 300
            });
        }
        catch (err) {
            throw new Error(`File was unable to be removed ${err}`);
        }
    });
}
/**
 * Make a directory.  Creates the full path with folders in between
 * Will throw if it fails
 *
 * @param   fsPath        path to create
 * @returns Promise<void>
 */
function mkdirP(fsPath) {
    return io_awaiter(this, void 0, void 0, function* () {
        ok(fsPath, 'a path argument must be provided');
        yield ioUtil.mkdir(fsPath, { recursive: true });
    });
}
/**
 * Returns path of a tool had the tool actually been invoked.  Resolves via paths.
 * If you check and the tool does not exist, it will throw.
 *
 * @param     tool              name of the tool
 * @param     check             whether to check if tool exists
 * @returns   Promise<string>   path to tool
 */
function which(tool, check) {
    return io_awaiter(this, void 0, void 0, function* () {
        if (!tool) {
            throw new Error("parameter 'tool' is required");
        }
        // recursive when check=true
        if (check) {
            const result = yield which(tool, false);
            if (!result) {
                if (IS_WINDOWS) {
                    throw new Error(`Unable to locate executable file: ${tool}. Please verify either the file path exists or the file can be found within a directory specified by the PATH environment variable. Also verify the file has a valid extension for an executable file.`);
                }
                else {
                    throw new Error(`Unable to locate executable file: ${tool}. Please verify either the file path exists or the file can be found within a directory specified by the PATH environment variable. Also check the file mode to verify the file is executable.`);
                }
            }
            return result;
        }
        const matches = yield findInPath(tool);
        if (matches && matches.length > 0) {
            return matches[0];
        }
        return '';
    });
}
/**
 * Returns a list of all occurrences of the given tool on the system path.
 *
 * @returns   Promise<string[]>  the paths of the tool
 */
function findInPath(tool) {
    return io_awaiter(this, void 0, void 0, function* () {
        if (!tool) {
            throw new Error("parameter 'tool' is required");
        }
        // build the list of extensions to try
        const extensions = [];
        if (IS_WINDOWS && process.env['PATHEXT']) {
            for (const extension of process.env['PATHEXT'].split(external_path_.delimiter)) {
                if (extension) {
                    extensions.push(extension);
                }
            }
        }
        // if it's rooted, return it if exists. otherwise return empty.
        if (isRooted(tool)) {
            const filePath = yield tryGetExecutablePath(tool, extensions);
            if (filePath) {
                return [filePath];
            }
            return [];
        }
        // if any path separators, return empty
        if (tool.includes(external_path_.sep)) {
            return [];
        }
        // build the list of directories
        //
        // Note, technically "where" checks the current directory on Windows. From a toolkit perspective,
        // it feels like we should not do this. Checking the current directory seems like more of a use
        // case of a shell, and the which() function exposed by the toolkit should strive for consistency
        // across platforms.
        const directories = [];
        if (process.env.PATH) {
            for (const p of process.env.PATH.split(external_path_.delimiter)) {
                if (p) {
                    directories.push(p);
                }
            }
        }
        // find all matches
        const matches = [];
        for (const directory of directories) {
            const filePath = yield tryGetExecutablePath(external_path_.join(directory, tool), extensions);
            if (filePath) {
                matches.push(filePath);
            }
        }
        return matches;
    });
}
function readCopyOptions(options) {
    const force = options.force == null ? true : options.force;
    const recursive = Boolean(options.recursive);
    const copySourceDirectory = options.copySourceDirectory == null
        ? true
        : Boolean(options.copySourceDirectory);
    return { force, recursive, copySourceDirectory };
}
function cpDirRecursive(sourceDir, destDir, currentDepth, force) {
    return io_awaiter(this, void 0, void 0, function* () {
        // Ensure there is not a run away recursive copy
        if (currentDepth >= 255)
            return;
        currentDepth++;
        yield mkdirP(destDir);
        const files = yield ioUtil.readdir(sourceDir);
        for (const fileName of files) {
            const srcFile = `${sourceDir}/${fileName}`;
            const destFile = `${destDir}/${fileName}`;
            const srcFileStat = yield ioUtil.lstat(srcFile);
            if (srcFileStat.isDirectory()) {
                // Recurse
                yield cpDirRecursive(srcFile, destFile, currentDepth, force);
            }
            else {
                yield io_copyFile(srcFile, destFile, force);
            }
        }
        // Change the mode for the newly created directory
        yield ioUtil.chmod(destDir, (yield ioUtil.stat(sourceDir)).mode);
    });
}
// Buffered file copy
function io_copyFile(srcFile, destFile, force) {
    return io_awaiter(this, void 0, void 0, function* () {
        if ((yield ioUtil.lstat(srcFile)).isSymbolicLink()) {
            // unlink/re-link it
            try {
                yield ioUtil.lstat(destFile);
                yield ioUtil.unlink(destFile);
            }
            catch (e) {
                // Try to override file permission
                if (e.code === 'EPERM') {
                    yield ioUtil.chmod(destFile, '0666');
                    yield ioUtil.unlink(destFile);
                }
                // other errors = it doesn't exist, no work to do
            }
            // Copy over symlink
            const symlinkFull = yield ioUtil.readlink(srcFile);
            yield ioUtil.symlink(symlinkFull, destFile, ioUtil.IS_WINDOWS ? 'junction' : null);
        }
        else if (!(yield ioUtil.exists(destFile)) || force) {
            yield ioUtil.copyFile(srcFile, destFile);
        }
    });
}
//# sourceMappingURL=io.js.map
;// CONCATENATED MODULE: external "timers"
const external_timers_namespaceObject = require("timers");
;// CONCATENATED MODULE: ./node_modules/@actions/exec/lib/toolrunner.js
var toolrunner_awaiter = (undefined && undefined.__awaiter) || function (thisArg, _arguments, P, generator) {
    function adopt(value) { return value instanceof P ? value : new P(function (resolve) { resolve(value); }); }
    return new (P || (P = Promise))(function (resolve, reject) {
        function fulfilled(value) { try { step(generator.next(value)); } catch (e) { reject(e); } }
        function rejected(value) { try { step(generator["throw"](value)); } catch (e) { reject(e); } }
        function step(result) { result.done ? resolve(result.value) : adopt(result.value).then(fulfilled, rejected); }
        step((generator = generator.apply(thisArg, _arguments || [])).next());
    });
};







/* eslint-disable @typescript-eslint/unbound-method */
const toolrunner_IS_WINDOWS = process.platform === 'win32';
/*
 * Class for running command line tools. Handles quoting and arg parsing in a platform agnostic way.
 */
class ToolRunner extends external_events_.EventEmitter {
    constructor(toolPath, args, options) {
        super();
        if (!toolPath) {
            throw new Error("Parameter 'toolPath' cannot be null or empty.");
        }
        this.toolPath = toolPath;
        this.args = args || [];
        this.options = options || {};
    }
    _debug(message) {
        if (this.options.listeners && this.options.listeners.debug) {
            this.options.listeners.debug(message);
        }
    }
    _getCommandString(options, noPrefix) {
        const toolPath = this._getSpawnFileName();
        const args = this._getSpawnArgs(options);
        let cmd = noPrefix ? '' : '[command]'; // omit prefix when piped to a second tool
        if (toolrunner_IS_WINDOWS) {
            // Windows + cmd file
            if (this._isCmdFile()) {
                cmd += toolPath;
                for (const a of args) {
                    cmd += ` ${a}`;
                }
            }
            // Windows + verbatim
            else if (options.windowsVerbatimArguments) {
                cmd += `"${toolPath}"`;
                for (const a of args) {
                    cmd += ` ${a}`;
                }
            }
            // Windows (regular)
            else {
                cmd += this._windowsQuoteCmdArg(toolPath);
                for (const a of args) {
                    cmd += ` ${this._windowsQuoteCmdArg(a)}`;
                }
            }
        }
        else {
            // OSX/Linux - this can likely be improved with some form of quoting.
            // creating processes on Unix is fundamentally different than Windows.
            // on Unix, execvp() takes an arg array.
            cmd += toolPath;
            for (const a of args) {
                cmd += ` ${a}`;
            }
        }
        return cmd;
    }
    _processLineBuffer(data, strBuffer, onLine) {
        try {
            let s = strBuffer + data.toString();
            let n = s.indexOf(external_os_.EOL);
            while (n > -1) {
                const line = s.substring(0, n);
                onLine(line);
                // the rest of the string ...
                s = s.substring(n + external_os_.EOL.length);
                n = s.indexOf(external_os_.EOL);
            }
            return s;
        }
        catch (err) {
            // streaming lines to console is best effort.  Don't fail a build.
            this._debug(`error processing line. Failed with error ${err}`);
            return '';
        }
    }
    _getSpawnFileName() {
        if (toolrunner_IS_WINDOWS) {
            if (this._isCmdFile()) {
                return process.env['COMSPEC'] || 'cmd.exe';
            }
        }
        return this.toolPath;
    }
    _getSpawnArgs(options) {
        if (toolrunner_IS_WINDOWS) {
            if (this._isCmdFile()) {
                let argline = `/D /S /C "${this._windowsQuoteCmdArg(this.toolPath)}`;
                for (const a of this.args) {
                    argline += ' ';
                    argline += options.windowsVerbatimArguments
                        ? a
                        : this._windowsQuoteCmdArg(a);
                }
                argline += '"';
                return [argline];
            }
        }
        return this.args;
    }
    _endsWith(str, end) {
        return str.endsWith(end);
    }
    _isCmdFile() {
        const upperToolPath = this.toolPath.toUpperCase();
        return (this._endsWith(upperToolPath, '.CMD') ||
            this._endsWith(upperToolPath, '.BAT'));
    }
    _windowsQuoteCmdArg(arg) {
        // for .exe, apply the normal quoting rules that libuv applies
        if (!this._isCmdFile()) {
            return this._uvQuoteCmdArg(arg);
        }
        // otherwise apply quoting rules specific to the cmd.exe command line parser.
        // the libuv rules are generic and are not designed specifically for cmd.exe
        // command line parser.
        //
        // for a detailed description of the cmd.exe command line parser, refer to
        // http://stackoverflow.com/questions/4094699/how-does-the-windows-command-interpreter-cmd-exe-parse-scripts/7970912#7970912
        // need quotes for empty arg
        if (!arg) {
            return '""';
        }
        // determine whether the arg needs to be quoted
        const cmdSpecialChars = [
            ' ',
            '\t',
            '&',
            '(',
            ')',
            '[',
            ']',
            '{',
            '}',
            '^',
            '=',
            ';',
            '!',
            "'",
            '+',
            ',',
            '`',
            '~',
            '|',
            '<',
            '>',
            '"'
        ];
        let needsQuotes = false;
        for (const char of arg) {
            if (cmdSpecialChars.some(x => x === char)) {
                needsQuotes = true;
                break;
            }
        }
        // short-circuit if quotes not needed
        if (!needsQuotes) {
            return arg;
        }
        // the following quoting rules are very similar to the rules that by libuv applies.
        //
        // 1) wrap the string in quotes
        //
        // 2) double-up quotes - i.e. " => ""
        //
        //    this is different from the libuv quoting rules. libuv replaces " with \", which unfortunately
        //    doesn't work well with a cmd.exe command line.
        //
        //    note, replacing " with "" also works well if the arg is passed to a downstream .NET console app.
        //    for example, the command line:
        //          foo.exe "myarg:""my val"""
        //    is parsed by a .NET console app into an arg array:
        //          [ "myarg:\"my val\"" ]
        //    which is the same end result when applying libuv quoting rules. although the actual
        //    command line from libuv quoting rules would look like:
        //          foo.exe "myarg:\"my val\""
        //
        // 3) double-up slashes that precede a quote,
        //    e.g.  hello \world    => "hello \world"
        //          hello\"world    => "hello\\""world"
        //          hello\\"world   => "hello\\\\""world"
        //          hello world\    => "hello world\\"
        //
        //    technically this is not required for a cmd.exe command line, or the batch argument parser.
        //    the reasons for including this as a .cmd quoting rule are:
        //
        //    a) this is optimized for the scenario where the argument is passed from the .cmd file to an
        //       external program. many programs (e.g. .NET console apps) rely on the slash-doubling rule.
        //
        //    b) it's what we've been doing previously (by deferring to node default behavior) and we
        //       haven't heard any complaints about that aspect.
        //
        // note, a weakness of the quoting rules chosen here, is that % is not escaped. in fact, % cannot be
        // escaped when used on the command line directly - even though within a .cmd file % can be escaped
        // by using %%.
        //
        // the saving grace is, on the command line, %var% is left as-is if var is not defined. this contrasts
        // the line parsing rules within a .cmd file, where if var is not defined it is replaced with nothing.
        //
        // one option that was explored was replacing % with ^% - i.e. %var% => ^%var^%. this hack would
        // often work, since it is unlikely that var^ would exist, and the ^ character is removed when the
        // variable is used. the problem, however, is that ^ is not removed when %* is used to pass the args
        // to an external program.
        //
        // an unexplored potential solution for the % escaping problem, is to create a wrapper .cmd file.
        // % can be escaped within a .cmd file.
        let reverse = '"';
        let quoteHit = true;
        for (let i = arg.length; i > 0; i--) {
            // walk the string in reverse
            reverse += arg[i - 1];
            if (quoteHit && arg[i - 1] === '\\') {
                reverse += '\\'; // double the slash
            }
            else if (arg[i - 1] === '"') {
                quoteHit = true;
                reverse += '"'; // double the quote
            }
            else {
                quoteHit = false;
            }
        }
        reverse += '"';
        return reverse.split('').reverse().join('');
    }
    _uvQuoteCmdArg(arg) {
        // Tool runner wraps child_process.spawn() and needs to apply the same quoting as
        // Node in certain cases where the undocumented spawn option windowsVerbatimArguments
        // is used.
        //
        // Since this function is a port of quote_cmd_arg from Node 4.x (technically, lib UV,
        // see https://github.com/nodejs/node/blob/v4.x/deps/uv/src/win/process.c for details),
        // pasting copyright notice from Node within this function:
        //
        //      Copyright Joyent, Inc. and other Node contributors. All rights reserved.
        //
        //      Permission is hereby granted, free of charge, to any person obtaining a copy
        //      of this software and associated documentation files (the "Software"), to
        //      deal in the Software without restriction, including without limitation the
        //      rights to use, copy, modify, merge, publish, distribute, sublicense, and/or
        //      sell copies of the Software, and to permit persons to whom the Software is
        //      furnished to do so, subject to the following conditions:
        //
        //      The above copyright notice and this permission notice shall be included in
        //      all copies or substantial portions of the Software.
        //
        //      THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
        //      IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
        //      FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
        //      AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
        //      LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING
        //      FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS
        //      IN THE SOFTWARE.
        if (!arg) {
            // Need double quotation for empty argument
            return '""';
        }
        if (!arg.includes(' ') && !arg.includes('\t') && !arg.includes('"')) {
            // No quotation needed
            return arg;
        }
        if (!arg.includes('"') && !arg.includes('\\')) {
            // No embedded double quotes or backslashes, so I can just wrap
            // quote marks around the whole thing.
            return `"${arg}"`;
        }
        // Expected input/output:
        //   input : hello"world
        //   output: "hello\"world"
        //   input : hello""world
        //   output: "hello\"\"world"
        //   input : hello\world
        //   output: hello\world
        //   input : hello\\world
        //   output: hello\\world
        //   input : hello\"world
        //   output: "hello\\\"world"
        //   input : hello\\"world
        //   output: "hello\\\\\"world"
        //   input : hello world\
        //   output: "hello world\\" - note the comment in libuv actually reads "hello world\"
        //                             but it appears the comment is wrong, it should be "hello world\\"
        let reverse = '"';
        let quoteHit = true;
        for (let i = arg.length; i > 0; i--) {
            // walk the string in reverse
            reverse += arg[i - 1];
            if (quoteHit && arg[i - 1] === '\\') {
                reverse += '\\';
            }
            else if (arg[i - 1] === '"') {
                quoteHit = true;
                reverse += '\\';
            }
            else {
                quoteHit = false;
            }
        }
        reverse += '"';
        return reverse.split('').reverse().join('');
    }
    _cloneExecOptions(options) {
        options = options || {};
        const result = {
            cwd: options.cwd || process.cwd(),
            env: options.env || process.env,
            silent: options.silent || false,
            windowsVerbatimArguments: options.windowsVerbatimArguments || false,
            failOnStdErr: options.failOnStdErr || false,
            ignoreReturnCode: options.ignoreReturnCode || false,
            delay: options.delay || 10000
        };
        result.outStream = options.outStream || process.stdout;
        result.errStream = options.errStream || process.stderr;
        return result;
    }
    _getSpawnOptions(options, toolPath) {
        options = options || {};
        const result = {};
        result.cwd = options.cwd;
        result.env = options.env;
        result['windowsVerbatimArguments'] =
            options.windowsVerbatimArguments || this._isCmdFile();
        if (options.windowsVerbatimArguments) {
            result.argv0 = `"${toolPath}"`;
        }
        return result;
    }
    /**
     * Exec a tool.
     * Output will be streamed to the live console.
     * Returns promise with return code
     *
     * @param     tool     path to tool to exec
     * @param     options  optional exec options.  See ExecOptions
     * @returns   number
     */
    exec() {
        return toolrunner_awaiter(this, void 0, void 0, function* () {
            // root the tool path if it is unrooted and contains relative pathing
            if (!isRooted(this.toolPath) &&
                (this.toolPath.includes('/') ||
                    (toolrunner_IS_WINDOWS && this.toolPath.includes('\\')))) {
                // prefer options.cwd if it is specified, however options.cwd may also need to be rooted
                this.toolPath = external_path_.resolve(process.cwd(), this.options.cwd || process.cwd(), this.toolPath);
            }
            // if the tool is only a file name, then resolve it from the PATH
            // otherwise verify it exists (add extension on Windows if necessary)
            this.toolPath = yield which(this.toolPath, true);
            return new Promise((resolve, reject) => toolrunner_awaiter(this, void 0, void 0, function* () {
                this._debug(`exec tool: ${this.toolPath}`);
                this._debug('arguments:');
                for (const arg of this.args) {
                    this._debug(`   ${arg}`);
                }
                const optionsNonNull = this._cloneExecOptions(this.options);
                if (!optionsNonNull.silent && optionsNonNull.outStream) {
                    optionsNonNull.outStream.write(this._getCommandString(optionsNonNull) + external_os_.EOL);
                }
                const state = new ExecState(optionsNonNull, this.toolPath);
                state.on('debug', (message) => {
                    this._debug(message);
                });
                if (this.options.cwd && !(yield exists(this.options.cwd))) {
                    return reject(new Error(`The cwd: ${this.options.cwd} does not exist!`));
                }
                const fileName = this._getSpawnFileName();
                const cp = external_child_process_namespaceObject.spawn(fileName, this._getSpawnArgs(optionsNonNull), this._getSpawnOptions(this.options, fileName));
                let stdbuffer = '';
                if (cp.stdout) {
                    cp.stdout.on('data', (data) => {
                        if (this.options.listeners && this.options.listeners.stdout) {
                            this.options.listeners.stdout(data);
                        }
                        if (!optionsNonNull.silent && optionsNonNull.outStream) {
                            optionsNonNull.outStream.write(data);
                        }
                        stdbuffer = this._processLineBuffer(data, stdbuffer, (line) => {
                            if (this.options.listeners && this.options.listeners.stdline) {
                                this.options.listeners.stdline(line);
                            }
                        });
                    });
                }
                let errbuffer = '';
                if (cp.stderr) {
                    cp.stderr.on('data', (data) => {
                        state.processStderr = true;
                        if (this.options.listeners && this.options.listeners.stderr) {
                            this.options.listeners.stderr(data);
                        }
                        if (!optionsNonNull.silent &&
                            optionsNonNull.errStream &&
                            optionsNonNull.outStream) {
                            const s = optionsNonNull.failOnStdErr
                                ? optionsNonNull.errStream
                                : optionsNonNull.outStream;
                            s.write(data);
                        }
                        errbuffer = this._processLineBuffer(data, errbuffer, (line) => {
                            if (this.options.listeners && this.options.listeners.errline) {
                                this.options.listeners.errline(line);
                            }
                        });
                    });
                }
                cp.on('error', (err) => {
                    state.processError = err.message;
                    state.processExited = true;
                    state.processClosed = true;
                    state.CheckComplete();
                });
                cp.on('exit', (code) => {
                    state.processExitCode = code;
                    state.processExited = true;
                    this._debug(`Exit code ${code} received from tool '${this.toolPath}'`);
                    state.CheckComplete();
                });
                cp.on('close', (code) => {
                    state.processExitCode = code;
                    state.processExited = true;
                    state.processClosed = true;
                    this._debug(`STDIO streams have closed for tool '${this.toolPath}'`);
                    state.CheckComplete();
                });
                state.on('done', (error, exitCode) => {
                    if (stdbuffer.length > 0) {
                        this.emit('stdline', stdbuffer);
                    }
                    if (errbuffer.length > 0) {
                        this.emit('errline', errbuffer);
                    }
                    cp.removeAllListeners();
                    if (error) {
                        reject(error);
                    }
                    else {
                        resolve(exitCode);
                    }
                });
                if (this.options.input) {
                    if (!cp.stdin) {
                        throw new Error('child process missing stdin');
                    }
                    cp.stdin.end(this.options.input);
                }
            }));
        });
    }
}
/**
 * Convert an arg string to an array of args. Handles escaping
 *
 * @param    argString   string of arguments
 * @returns  string[]    array of arguments
 */
function argStringToArray(argString) {
    const args = [];
    let inQuotes = false;
    let escaped = false;
    let arg = '';
    function append(c) {
        // we only escape double quotes.
        if (escaped && c !== '"') {
            arg += '\\';
        }
        arg += c;
        escaped = false;
    }
    for (let i = 0; i < argString.length; i++) {
        const c = argString.charAt(i);
        if (c === '"') {
            if (!escaped) {
                inQuotes = !inQuotes;
            }
            else {
                append(c);
            }
            continue;
        }
        if (c === '\\' && escaped) {
            append(c);
            continue;
        }
        if (c === '\\' && inQuotes) {
            escaped = true;
            continue;
        }
        if (c === ' ' && !inQuotes) {
            if (arg.length > 0) {
                args.push(arg);
                arg = '';
            }
            continue;
        }
        append(c);
    }
    if (arg.length > 0) {
        args.push(arg.trim());
    }
    return args;
}
class ExecState extends external_events_.EventEmitter {
    constructor(options, toolPath) {
        super();
        this.processClosed = false; // tracks whether the process has exited and stdio is closed
        this.processError = '';
        this.processExitCode = 0;
        this.processExited = false; // tracks whether the process has exited
        this.processStderr = false; // tracks whether stderr was written to
        this.delay = 10000; // 10 seconds
        this.done = false;
        this.timeout = null;
        if (!toolPath) {
            throw new Error('toolPath must not be empty');
        }
        this.options = options;
        this.toolPath = toolPath;
        if (options.delay) {
            this.delay = options.delay;
        }
    }
    CheckComplete() {
        if (this.done) {
            return;
        }
        if (this.processClosed) {
            this._setResult();
        }
        else if (this.processExited) {
            this.timeout = (0,external_timers_namespaceObject.setTimeout)(ExecState.HandleTimeout, this.delay, this);
        }
    }
    _debug(message) {
        this.emit('debug', message);
    }
    _setResult() {
        // determine whether there is an error
        let error;
        if (this.processExited) {
            if (this.processError) {
                error = new Error(`There was an error when attempting to execute the process '${this.toolPath}'. This may indicate the process failed to start. Error: ${this.processError}`);
            }
            else if (this.processExitCode !== 0 && !this.options.ignoreReturnCode) {
                error = new Error(`The process '${this.toolPath}' failed with exit code ${this.processExitCode}`);
            }
            else if (this.processStderr && this.options.failOnStdErr) {
                error = new Error(`The process '${this.toolPath}' failed because one or more lines were written to the STDERR stream`);
            }
        }
        // clear the timeout
        if (this.timeout) {
            clearTimeout(this.timeout);
            this.timeout = null;
        }
        this.done = true;
        this.emit('done', error, this.processExitCode);
    }
    static HandleTimeout(state) {
        if (state.done) {
            return;
        }
        if (!state.processClosed && state.processExited) {
            const message = `The STDIO streams did not close within ${state.delay / 1000} seconds of the exit event from process '${state.toolPath}'. This may indicate a child process inherited the STDIO streams and has not yet exited.`;
            state._debug(message);
        }
        state._setResult();
    }
}
//# sourceMappingURL=toolrunner.js.map
;// CONCATENATED MODULE: ./node_modules/@actions/exec/lib/exec.js
var exec_awaiter = (undefined && undefined.__awaiter) || function (thisArg, _arguments, P, generator) {
    function adopt(value) { return value instanceof P ? value : new P(function (resolve) { resolve(value); }); }
    return new (P || (P = Promise))(function (resolve, reject) {
        function fulfilled(value) { try { step(generator.next(value)); } catch (e) { reject(e); } }
        function rejected(value) { try { step(generator["throw"](value)); } catch (e) { reject(e); } }
        function step(result) { result.done ? resolve(result.value) : adopt(result.value).then(fulfilled, rejected); }
        step((generator = generator.apply(thisArg, _arguments || [])).next());
    });
};


/**
 * Exec a command.
 * Output will be streamed to the live console.
 * Returns promise with return code
 *
 * @param     commandLine        command to execute (can include additional args). Must be correctly escaped.
 * @param     args               optional arguments for tool. Escaping is handled by the lib.
 * @param     options            optional exec options.  See ExecOptions
 * @returns   Promise<number>    exit code
 */
function exec(commandLine, args, options) {
    return exec_awaiter(this, void 0, void 0, function* () {
        const commandArgs = argStringToArray(commandLine);
        if (commandArgs.length === 0) {
            throw new Error(`Parameter 'commandLine' cannot be null or empty.`);
        }
        // Path to tool to execute should be first arg
        const toolPath = commandArgs[0];
        args = commandArgs.slice(1).concat(args || []);
        const runner = new ToolRunner(toolPath, args, options);
        return runner.exec();
    });
}
/**
 * Exec a command and get the output.
 * Output will be streamed to the live console.
 * Returns promise with the exit code and collected stdout and stderr
 *
 * @param     commandLine           command to execute (can include additional args). Must be correctly escaped.
 * @param     args                  optional arguments for tool. Escaping is handled by the lib.
 * @param     options               optional exec options.  See ExecOptions
 * @returns   Promise<ExecOutput>   exit code, stdout, and stderr
 */
function getExecOutput(commandLine, args, options) {
    return exec_awaiter(this, void 0, void 0, function* () {
        var _a, _b;
        let stdout = '';
        let stderr = '';
        //Using string decoder covers the case where a mult-byte character is split
        const stdoutDecoder = new external_string_decoder_.StringDecoder('utf8');
        const stderrDecoder = new external_string_decoder_.StringDecoder('utf8');
        const originalStdoutListener = (_a = options === null || options === void 0 ? void 0 : options.listeners) === null || _a === void 0 ? void 0 : _a.stdout;
        const originalStdErrListener = (_b = options === null || options === void 0 ? void 0 : options.listeners) === null || _b === void 0 ? void 0 : _b.stderr;
        const stdErrListener = (data) => {
            stderr += stderrDecoder.write(data);
            if (originalStdErrListener) {
                originalStdErrListener(data);
            }
        };
        const stdOutListener = (data) => {
            stdout += stdoutDecoder.write(data);
            if (originalStdoutListener) {
                originalStdoutListener(data);
            }
        };
        const listeners = Object.assign(Object.assign({}, options === null || options === void 0 ? void 0 : options.listeners), { stdout: stdOutListener, stderr: stdErrListener });
        const exitCode = yield exec(commandLine, args, Object.assign(Object.assign({}, options), { listeners }));
        //flush any remaining characters
        stdout += stdoutDecoder.end();
        stderr += stderrDecoder.end();
        return {
            exitCode,
            stdout,
            stderr
        };
    });
}
//# sourceMappingURL=exec.js.map
;// CONCATENATED MODULE: ./src/git/git-command-manager.ts
/**
 * A typed wrapper around the git CLI, one method per git operation (modelled on actions/checkout's
 * GitCommandManager). Commands run through @actions/exec with `silent: true`; each command line is
 * logged through the run's logger at debug level. Secrets never appear in arguments: push/fetch
 * authentication lives in a config file (see auth.ts).
 */


/** Hides passwords in URLs (a remote may be written with credentials). */
const urls = new redact/* Redactor */.pO();
const execGit = (args, options) => getExecOutput('git', args, { ...options, silent: true, ignoreReturnCode: true });
class GitCommandError extends Error {
    args;
    output;
    constructor(args, output) {
        super(`git ${args[0] ?? ''} failed (exit ${output.exitCode}): ${lastLines(output.stderr)}`);
        this.args = args;
        this.output = output;
        this.name = 'GitCommandError';
    }
}
class GitCommandManager {
    workdir;
    logger;
    env;
    runner;
    identity;
    constructor(workdir, logger, env, runner = execGit, identity = {}) {
        this.workdir = workdir;
        this.logger = logger;
        this.env = env;
        this.runner = runner;
        this.identity = identity;
    }
    /** The same manager (logger, environment, runner, identity) working in another directory. */
    at(workdir) {
        return new GitCommandManager(workdir, this.logger, this.env, this.runner, this.identity);
    }
    /**
     * Commits fall back to `identity` for the name and the email that neither the checkout nor the
     * user has configured. The configuration is read once, before the first commit: many runs (a
     * plan with nothing to revert, say) never commit, and every git start costs ~10 ms.
     */
    useFallbackIdentity(identity) {
        this.identity.fallback = identity;
    }
    applyFallbackIdentity() {
        const { fallback } = this.identity;
        if (!fallback)
            return Promise.resolve();
        this.identity.applied ??= this.configMatching('^user\\.(name|email)$').then(configured => {
            // The environment is shared with the managers made by `at`: this applies to all of them.
            if (!configured.get('user.name')) {
                Object.assign(this.env, {
                    GIT_AUTHOR_NAME: fallback.name,
                    GIT_COMMITTER_NAME: fallback.name
                });
            }
            if (!configured.get('user.email')) {
                Object.assign(this.env, {
                    GIT_AUTHOR_EMAIL: fallback.email,
                    GIT_COMMITTER_EMAIL: fallback.email
                });
            }
        });
        // A failed read (git could not start, say) is tried again by the next commit.
        this.identity.applied.catch(() => (this.identity.applied = undefined));
        return this.identity.applied;
    }
    /** Runs git and returns its output whatever the exit code. */
    async tryExec(args) {
        this.logger.debug(`git ${urls.redact(args.join(' '))}`);
        return this.runner(args, { cwd: this.workdir, env: this.env });
    }
    /** Runs git and throws GitCommandError on a non-zero exit. */
    async exec(args) {
        const output = await this.tryExec(args);
        if (output.exitCode !== 0)
            throw new GitCommandError(args, output);
        return output.stdout;
    }
    async revParse(rev) {
        const out = await this.tryExec(['rev-parse', '--verify', '--quiet', `${rev}^{commit}`]);
        return out.exitCode === 0 ? out.stdout.trim() : undefined;
    }
    async treeOf(rev) {
        return (await this.exec(['rev-parse', '--verify', `${rev}^{tree}`])).trim();
    }
    async isShallow() {
        return (await this.exec(['rev-parse', '--is-shallow-repository'])).trim() === 'true';
    }
    async isAncestor(ancestor, descendant) {
        const out = await this.tryExec(['merge-base', '--is-ancestor', ancestor, descendant]);
        if (out.exitCode > 1)
            throw new GitCommandError(['merge-base'], out);
        return out.exitCode === 0;
    }
    async mergeBase(revs) {
        if (revs.length === 1)
            return revs[0];
        const out = await this.tryExec(['merge-base', '--octopus', ...revs]);
        return out.exitCode === 0 ? out.stdout.trim() : undefined;
    }
    /** Commits in `revs` (rev-list syntax), newest first, with parents and subjects. */
    async log(revs, options = {}) {
        const args = ['log', '--topo-order', '--format=%H%x00%P%x00%s'];
        if (options.firstParent)
            args.push('--first-parent');
        const out = await this.exec([...args, ...revs, '--']);
        return out
            .split('\n')
            .filter(line => line.length > 0)
            .map(line => {
            const [sha = '', parents = '', subject = ''] = line.split('\0');
            return { sha, parents: parents.split(' ').filter(Boolean), subject };
        });
    }
    /** Full commit messages of `revs`, newest first. */
    async messages(revs) {
        const out = await this.exec(['log', '--format=%H%x00%B%x1e', ...revs, '--']);
        return out
            .split('\x1e')
            .map(chunk => chunk.replace(/^\n+/, ''))
            .filter(chunk => chunk.includes('\0'))
            .map(chunk => {
            const [sha = '', body = ''] = chunk.split('\0');
            return { sha, body };
        });
    }
    async countCommits(rev) {
        return Number((await this.exec(['rev-list', '--count', rev])).trim());
    }
    /** Bytes of object storage (packs + loose objects), to measure what a fetch brought in. */
    async objectBytes() {
        const out = await this.exec(['count-objects', '-v']);
        const kib = (key) => Number(new RegExp(`^${key}: (\\d+)`, 'm').exec(out)?.[1] ?? 0);
        return (kib('size') + kib('size-pack')) * 1024;
    }
    async remoteUrl(remote) {
        const out = await this.tryExec(['remote', 'get-url', remote]);
        return out.exitCode === 0 ? out.stdout.trim() : undefined;
    }
    /** The sha a remote branch points at, or undefined when the branch does not exist. */
    async lsRemote(remote, ref) {
        const out = await this.exec(['ls-remote', remote, ref]);
        const line = out.split('\n').find(l => l.endsWith(`\t${ref}`));
        return line?.split('\t')[0];
    }
    async fetch(remote, refspecs, options = {}) {
        const args = ['fetch', '--no-tags', '--no-recurse-submodules', '--quiet'];
        if (options.deepen)
            args.push(`--deepen=${options.deepen}`);
        await this.exec([...args, remote, ...refspecs]);
    }
    async isClean() {
        const out = await this.exec(['status', '--porcelain', '--untracked-files=no']);
        return out.trim() === '';
    }
    async checkoutDetached(rev) {
        await this.exec(['-c', 'advice.detachedHead=false', 'checkout', '--quiet', '--detach', rev]);
    }
    async addWorktree(path, rev) {
        await this.exec(['worktree', 'add', '--quiet', '--detach', path, rev]);
    }
    async removeWorktree(path) {
        await this.tryExec(['worktree', 'remove', '--force', path]);
        await this.tryExec(['worktree', 'prune']);
    }
    async resetHard(rev) {
        await this.exec(['reset', '--quiet', '--hard', rev]);
    }
    /**
     * Reverts commits, in the order given, into the index and working tree (no commit). On a
     * conflict returns the commit that conflicted (REVERT_HEAD) and the conflicting paths.
     */
    async revertNoCommit(shas, mainline) {
        const args = ['revert', '--no-commit'];
        if (mainline !== undefined)
            args.push('-m', String(mainline));
        const out = await this.tryExec([...args, ...shas]);
        if (out.exitCode === 0)
            return {};
        const paths = await this.conflictedPaths();
        if (paths.length === 0)
            throw new GitCommandError(['revert', ...shas], out);
        const sha = (await this.revParse('REVERT_HEAD')) ?? shas[0] ?? '';
        return { conflict: { sha, paths } };
    }
    /** Drops an interrupted revert and restores the working tree to `rev`. */
    async abortRevert(rev) {
        await this.tryExec(['revert', '--quit']);
        await this.resetHard(rev);
    }
    async conflictedPaths() {
        const out = await this.exec(['diff', '--name-only', '--diff-filter=U']);
        return out.split('\n').filter(Boolean);
    }
    async hasStagedChanges() {
        const out = await this.tryExec(['diff', '--cached', '--quiet']);
        return out.exitCode === 1;
    }
    async commit(message) {
        await this.applyFallbackIdentity();
        await this.exec(['commit', '--quiet', '--no-verify', '-m', message]);
        return (await this.revParse('HEAD')) ?? '';
    }
    /** Whether `path` (file or directory) exists in the tree of `rev`. */
    async pathExists(rev, path) {
        return (await this.tryExec(['cat-file', '-e', `${rev}:${path}`])).exitCode === 0;
    }
    async remove(path) {
        await this.exec(['rm', '-r', '--quiet', '--ignore-unmatch', '--', path]);
    }
    /** Pushes `src` to `dst`; returns git's output so the caller can explain a rejection. */
    async push(remote, src, dst, options = {}) {
        const args = ['push', '--porcelain'];
        if (options.lease)
            args.push(`--force-with-lease=${options.lease.ref}:${options.lease.expected}`);
        return this.tryExec([...args, remote, `${src}:${dst}`]);
    }
    async deleteRemoteRef(remote, ref) {
        return this.tryExec(['push', '--porcelain', remote, `:${ref}`]);
    }
    /** The effective values of the config keys matching `pattern` (one git call for several). */
    async configMatching(pattern) {
        const out = await this.tryExec(['config', '--null', '--get-regexp', pattern]);
        const values = new Map();
        if (out.exitCode !== 0)
            return values;
        for (const entry of out.stdout.split('\0')) {
            const newline = entry.indexOf('\n');
            // A later entry (local over global) is the effective one.
            if (newline > 0)
                values.set(entry.slice(0, newline), entry.slice(newline + 1));
        }
        return values;
    }
    async addLocalConfig(key, value) {
        await this.exec(['config', '--local', '--add', key, value]);
    }
    async unsetLocalConfig(key, value) {
        await this.tryExec(['config', '--local', '--fixed-value', '--unset-all', key, value]);
    }
}
function lastLines(text) {
    return text.trim().split('\n').slice(-3).join(' | ');
}

;// CONCATENATED MODULE: ./src/git/session.ts
/**
 * A git session on the run's checkout: a command manager with a non-interactive environment,
 * authentication configured for the remote (and removed afterwards, whatever happens), and the
 * remote branch's current tip fetched into a private ref.
 */





/** Committer identity when the checkout has none (GitHub runners have none by default). */
const BOT = {
    name: 'github-actions[bot]',
    email: '41898282+github-actions[bot]@users.noreply.github.com'
};
/**
 * A command manager on the run's checkout, once the checkout is confirmed to be one. `remote`:
 * also look up that remote's URL, in parallel with the check (each git start costs ~10 ms).
 */
async function openCheckout(checkout, remote) {
    const env = {};
    for (const [key, value] of Object.entries(checkout.env))
        if (value !== undefined)
            env[key] = value;
    Object.assign(env, {
        GIT_TERMINAL_PROMPT: '0',
        GCM_INTERACTIVE: 'never',
        GIT_LITERAL_PATHSPECS: '1',
        // A stalled network must fail the step, not hang the run until the job times out.
        GIT_HTTP_LOW_SPEED_LIMIT: '1000',
        GIT_HTTP_LOW_SPEED_TIME: '60',
        GIT_SSH_COMMAND: env.GIT_SSH_COMMAND ?? 'ssh -o BatchMode=yes -o ConnectTimeout=30'
    });
    const git = new GitCommandManager(checkout.workdir, checkout.log, env, checkout.runner ?? execGit);
    const [inside, remoteUrl] = await Promise.all([
        git.tryExec(['rev-parse', '--is-inside-work-tree']),
        remote === undefined ? undefined : git.remoteUrl(remote)
    ]);
    if (inside.exitCode !== 0 || inside.stdout.trim() !== 'true') {
        throw new util_errors/* RollbackError */.Z(`${checkout.workdir} is not a git checkout`, 'check out the repository first (actions/checkout) or point the run at the checkout');
    }
    git.useFallbackIdentity(BOT);
    return { git, remoteUrl };
}
async function createGit(checkout) {
    return (await openCheckout(checkout)).git;
}
async function withGitSession(checkout, target, fn) {
    const opened = await openCheckout(checkout, target.remote);
    const git = opened.git;
    const remoteUrl = opened.remoteUrl ?? urlOrFail(target.remote);
    const auth = await configureAuth(git, remoteUrl, checkout.githubToken, checkout.tempDir);
    try {
        await requireRemoteBranch(git, target);
        const tipRef = `refs/emergency-rollback/${target.branch}`;
        await git.fetch(target.remote, [`+refs/heads/${target.branch}:${tipRef}`]);
        const tip = (await git.revParse(tipRef)) ?? '';
        const session = { git, remote: target.remote, remoteUrl, branch: target.branch, tip, tipRef };
        return await fn(session);
    }
    finally {
        await auth.remove();
    }
}
function urlOrFail(remote) {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(remote) || remote.startsWith('/'))
        return remote;
    throw new util_errors/* RollbackError */.Z(`git remote "${remote}" is not configured in the checkout`, 'set git.remote in the runbook to a remote name of the checkout (usually origin) or a URL');
}
/** Reachability and auth check (`git ls-remote`), and the branch must exist. */
async function requireRemoteBranch(git, target) {
    let tip;
    try {
        tip = await git.lsRemote(target.remote, `refs/heads/${target.branch}`);
    }
    catch (err) {
        const detail = new redact/* Redactor */.pO().redact(err instanceof GitCommandError ? err.output.stderr.trim() : String(err));
        throw new util_errors/* RollbackError */.Z(`cannot reach git remote "${target.remote}": ${detail}`, 'check the remote URL and that github-token can read the repository (contents: read)');
    }
    if (!tip) {
        throw new util_errors/* RollbackError */.Z(`branch: "${target.branch}" does not exist on remote "${target.remote}"`, 'set branch (input) or git.branch (runbook) to an existing branch');
    }
}
/** A session on the remote branch a git or files step names (the branch name checked first). */
function withStepSession(step, checkout, fn) {
    checkBranch(step.action.branch);
    return withGitSession(checkout, { remote: step.action.remote, branch: step.action.branch }, fn);
}

;// CONCATENATED MODULE: ./src/phases/files.ts







/** Removes and checks on a detached copy of the remote head; pushes when `push` and needed. */
async function apply(step, deps, push) {
    return withStepSession(step, deps.checkout, async (s) => {
        await requireClean(s);
        await s.git.checkoutDetached(s.tip);
        const outcome = await applyFileRules(s.git, step.action.rules, deps.run.label);
        const head = outcome.commit ?? s.tip;
        const details = { filesRemoved: outcome.removed, filesKept: outcome.kept, remoteHead: s.tip };
        if (!outcome.commit) {
            return { status: 'succeeded', changed: [], outputs: { 'head-sha': s.tip }, details };
        }
        const removed = outcome.removed.map(path => `removed ${path}`);
        if (!push) {
            return { status: 'succeeded', changed: removed.map(l => `drill: would have ${l}`), details };
        }
        await pushOrExplain(s.git, { remote: s.remote, src: head, dst: `refs/heads/${s.branch}` });
        return {
            status: 'succeeded',
            changed: [...removed, `${s.remote}/${s.branch} is now ${revert_short(head)}`],
            outputs: { 'head-sha': head },
            recovery: [`to restore the removed files: git revert ${revert_short(head)} and push`],
            details
        };
    });
}
const filesPhase = {
    phase: 'files',
    needs: ['checkout', 'run', 'progress'],
    preflightShares: 'checkout',
    plan(runbook, request) {
        if (runbook.files === undefined)
            return [];
        const { remote, branch } = gitAction(runbook, request);
        const rules = fileRules(runbook);
        const changes = [
            ...rules.remove.map(path => `remove ${path} from ${remote}/${branch} if still present`),
            ...(rules.protect.length
                ? [`check that ${rules.protect.length} protected path(s) exist`]
                : [])
        ];
        return [
            {
                id: 'files',
                phase: 'files',
                title: `keep ${rules.protect.length} protected path(s), remove ${rules.remove.length}`,
                changes,
                mutates: rules.remove.length > 0,
                stage: 'main',
                action: { remote, branch, rules }
            }
        ];
    },
    async preflight(steps, deps) {
        const notes = [];
        for (const step of steps) {
            notes.push(await withStepSession(step, deps.checkout, async (s) => {
                const present = await presentPaths(s.git, step.action.rules.remove, s.tip);
                const missing = await missingProtected(s.git, step.action.rules, s.tip);
                // Without a git step to bring them back, a missing protected file fails the run here,
                // before any phase has changed anything.
                if (missing.length && !deps.progress.plannedPhases.includes('git')) {
                    throw new model/* RollbackError */.Z(`files.protect: ${missing.join(', ')} missing on ${s.remote}/${s.branch}`, 'restore the file(s) first, or run the git phase that brings them back');
                }
                const changes = present.map(path => `remove ${path} (present on ${s.branch} now)`);
                if (missing.length)
                    changes.push(`protected but missing now: ${missing.join(', ')}`);
                return { stepId: step.id, changes, details: { presentToRemove: present, missing } };
            }));
        }
        return { notes };
    },
    run: (step, deps) => apply(step, deps, true),
    drill: (step, deps) => apply(step, deps, false)
};

;// CONCATENATED MODULE: ./src/providers/types.ts
/** Two target lists name the same set (a variable is scoped by its set of targets). */
const sameTargets = (a, b) => a.length === b.length && a.every(x => b.includes(x));

;// CONCATENATED MODULE: ./src/phases/flags.ts



async function inspect(provider, action) {
    const keys = Object.keys(action.set);
    // Independent reads, concurrently (each is a round trip to the platform).
    const [entries, live] = await Promise.all([
        provider.readEnv(keys),
        provider.currentProductionDeployment()
    ]);
    const exact = new Map();
    for (const key of keys) {
        const mine = entries.filter(e => e.key === key);
        const same = mine.find(e => sameTargets(e.targets, action.targets));
        const clash = mine.find(e => e !== same && e.targets.some(t => action.targets.includes(t)));
        if (!same && clash)
            throw new model/* RollbackError */.Z(`${key} exists on ${provider.description} for targets [${clash.targets.join(', ')}], but the runbook sets it for [${action.targets.join(', ')}]: Vercel would answer ENV_CONFLICT`, `Set flags.targets to [${clash.targets.join(', ')}], or split the variable per environment in the dashboard.`);
        if (same)
            exact.set(key, same);
    }
    const diff = keys.filter(k => exact.get(k)?.value !== action.set[k]);
    const builtAt = live?.buildingAt ?? live?.createdAt;
    const liveHasValues = live !== undefined &&
        builtAt !== undefined &&
        keys.every(k => {
            const updated = exact.get(k)?.updatedAt;
            return updated !== undefined && builtAt > updated;
        });
    let pending;
    if (action.redeploy && diff.length === 0 && !liveHasValues) {
        const lastChange = Math.max(...keys.map(k => exact.get(k)?.updatedAt ?? 0));
        if (lastChange > 0)
            [pending] = await provider.pendingProductionDeployments(lastChange);
    }
    const staged = action.redeploy && !(await provider.autoAssignsProduction());
    return { exact, diff, live, liveHasValues, pending, staged };
}
function describeOld(env) {
    if (!env)
        return '(not set)';
    if (env.value === undefined)
        return `(${env.type}, value not readable)`;
    return env.value;
}
function planned(action, provider, state) {
    const where = `(${action.targets.join(', ')})`;
    const lines = Object.entries(action.set).map(([key, value]) => {
        if (!state)
            return `set ${key}=${value} ${where} on ${provider}`;
        const old = state.exact.get(key);
        if (!state.diff.includes(key))
            return `${key} ${where}: already ${value} (unchanged)`;
        return `${key} ${where}: ${describeOld(old)} -> ${value}`;
    });
    if (action.redeploy) {
        if (state && state.diff.length === 0 && state.liveHasValues)
            lines.push(`no redeploy: live deployment ${state.live.id} was built with these values`);
        else if (state?.pending)
            lines.push(`wait for production deployment ${state.pending.id} (${state.pending.state}), already building with these values`);
        else
            lines.push(`redeploy production${state?.live ? ` from ${state.live.id}` : ''} with a fresh build (no build cache) and wait until it is live (up to ${(0,duration/* formatDuration */.a3)(action.waitTimeoutMs)})`);
    }
    if (state?.staged && !(state.diff.length === 0 && state.liveHasValues))
        lines.push('the project is in Instant Rollback state (production builds are staged): the new build will be promoted, which turns automatic production assignment back on');
    return lines;
}
function recoveryFor(provider, action, state) {
    const restores = state.diff.map(key => {
        const old = state.exact.get(key);
        if (!old)
            return `delete ${key}`;
        if (old.value === undefined)
            return `restore ${key} from your secret store (it was ${old.type})`;
        return `set ${key}=${old.value}`;
    });
    const lines = [
        `flags: previous values on ${provider.description} (${action.targets.join(', ')}): ${restores.join(', ')}${action.redeploy ? ', then redeploy' : ''}`
    ];
    if (action.redeploy && state.live)
        lines.push(`flags: the previous production deployment ${state.live.id} (https://${state.live.url}) still has the old values built in: Instant Rollback to it restores them in seconds`);
    return lines;
}
function requireLive(state, provider) {
    if (!state.live)
        throw new model/* RollbackError */.Z(`no production deployment found on ${provider.description} to redeploy`, 'Deploy the project to production once (or set flags.redeploy: false when no NEXT_PUBLIC_* variable changes).');
    return state.live;
}
const flagsPhase = {
    phase: 'flags',
    needs: ['hosting', 'log', 'run'],
    plan(runbook) {
        const flags = runbook.flags;
        if (flags === undefined)
            return [];
        const action = {
            set: { ...flags.set },
            targets: [...flags.targets],
            redeploy: flags.redeploy || Object.keys(flags.set).some(k => k.startsWith('NEXT_PUBLIC_')),
            waitTimeoutMs: (0,duration/* parseDuration */.E9)(flags['wait-timeout'])
        };
        const provider = runbook.hosting
            ? `${runbook.hosting.provider} project ${runbook.hosting.project}`
            : 'the hosting platform';
        return [
            {
                id: 'flags',
                phase: 'flags',
                title: `Set ${Object.keys(flags.set).join(', ')} on ${provider}${action.redeploy ? ' and redeploy' : ''}`,
                changes: planned(action, provider),
                mutates: true,
                stage: 'main',
                action
            }
        ];
    },
    async preflight(steps, deps) {
        const notes = [];
        for (const step of steps) {
            const provider = deps.hosting.provider();
            await provider.checkAccess();
            const state = await inspect(provider, step.action);
            const converged = state.diff.length === 0 && (state.liveHasValues || state.pending);
            if (step.action.redeploy && !converged)
                requireLive(state, provider);
            notes.push({
                stepId: step.id,
                changes: planned(step.action, provider.description, state),
                details: {
                    liveDeployment: state.live?.id,
                    liveUrl: state.live && `https://${state.live.url}`
                }
            });
        }
        return { notes };
    },
    async run(step, deps) {
        return converge(step.action, deps);
    },
    async drill(step, deps) {
        const provider = deps.hosting.provider();
        await provider.checkAccess();
        const state = await inspect(provider, step.action);
        if (step.action.redeploy)
            requireLive(state, provider);
        return {
            status: 'succeeded',
            changed: [],
            details: {
                checked: ['token accepted', 'project found', 'env readable', 'production deployment found'],
                wouldChange: planned(step.action, provider.description, state),
                liveDeployment: state.live?.id
            }
        };
    }
};
async function converge(action, deps) {
    const provider = deps.hosting.provider();
    const state = await inspect(provider, action);
    const liveUrl = state.live && `https://${state.live.url}`;
    if (state.diff.length === 0 && (!action.redeploy || state.liveHasValues)) {
        deps.log.info(`flags: values already set${action.redeploy ? ' and live' : ''}; nothing to do`);
        return {
            status: 'succeeded',
            changed: [],
            outputs: liveUrl ? { 'deployment-url': liveUrl } : undefined,
            details: { unchanged: true, liveDeployment: state.live?.id }
        };
    }
    const changed = [];
    const recovery = state.diff.length > 0 ? recoveryFor(provider, action, state) : [];
    const outputs = {};
    // In the log before the change: if the process dies mid-step, the old values are still on record.
    for (const line of recovery)
        deps.log.info(`before changing: ${line}`);
    try {
        if (state.diff.length > 0) {
            const values = Object.fromEntries(state.diff.map(k => [k, action.set[k]]));
            await provider.setEnv(values, action.targets);
            for (const key of state.diff)
                changed.push(`${key} (${action.targets.join(', ')}): ${describeOld(state.exact.get(key))} -> ${action.set[key]}`);
        }
        if (action.redeploy) {
            let created;
            if (state.pending) {
                created = state.pending;
                deps.log.info(`flags: deployment ${created.id} is already building these values; waiting`);
            }
            else {
                const live = requireLive(state, provider);
                created = await provider.redeploy(live, { rollbackRunId: deps.run.request.runId });
                changed.push(`redeploy ${created.id} started from ${live.id}`);
            }
            outputs['deployment-id'] = created.id;
            deps.log.info(`flags: deployment ${created.id} (https://${created.url}) started`);
            const done = await provider.waitForDeployment(created.id, {
                timeoutMs: action.waitTimeoutMs,
                promote: state.staged,
                onProgress: d => deps.log.info(`flags: deployment ${d.id} ${d.state}`)
            });
            outputs['deployment-url'] = `https://${done.url}`;
            changed.push(`deployment ${done.id} is live at https://${done.url}`);
        }
        return { status: 'succeeded', changed, outputs, recovery };
    }
    catch (err) {
        return {
            status: 'failed',
            changed,
            outputs,
            recovery,
            error: err instanceof model/* RollbackError */.Z
                ? { message: err.message, hint: err.hint }
                : { message: err instanceof Error ? err.message : String(err) }
        };
    }
}

;// CONCATENATED MODULE: ./src/phases/git.ts







function requireUnmovedForReset(checked, s) {
    const seen = checked?.tip;
    if (seen && seen !== s.tip) {
        throw new model/* RollbackError */.Z(`branch: ${s.remote}/${s.branch} moved since the checks (${revert_short(seen)} -> ${revert_short(s.tip)}); a reset now would discard commits that were not shown in the plan`, 'run again to see the new plan (the commits to discard) and confirm it');
    }
}
function changedLines(resolved, prepared, s) {
    const where = `${s.remote}/${s.branch}`;
    const lines = [];
    if (resolved.kind === 'revert') {
        for (const c of resolved.revert.targets)
            lines.push(`reverted ${describeCommit(c)}`);
    }
    else {
        lines.push(`reset ${where} from ${revert_short(s.tip)} to ${revert_short(resolved.reset.target)}`);
        for (const c of resolved.reset.discarded)
            lines.push(`discarded ${describeCommit(c)}`);
    }
    for (const path of prepared.files.removed)
        lines.push(`removed ${path}`);
    lines.push(`${where} is now ${revert_short(prepared.head)}`);
    return lines;
}
async function runGit(step, deps, checked) {
    const action = step.action;
    return withStepSession(step, deps.checkout, async (s) => {
        const resolved = await resolve(s, action, deps.log, checked?.fetch);
        if (resolved.kind === 'reset')
            requireUnmovedForReset(checked, s);
        const prepared = await prepare(s, action, resolved, deps.run.label);
        if (prepared.upToDate) {
            deps.log.info(`${s.remote}/${s.branch} already matches the rollback result: nothing to push`);
            return {
                status: 'succeeded',
                changed: [],
                outputs: { 'head-sha': s.tip },
                details: details(resolved, prepared, { upToDate: true })
            };
        }
        const dst = `refs/heads/${s.branch}`;
        let recovery;
        let backup;
        if (resolved.kind === 'reset') {
            backup = backupRef(action, deps.run.request.runId);
            await backupThenForcePush(s, backup);
            deps.log.info(`old head ${revert_short(s.tip)} kept at ${backup}; ${dst} reset with lease`);
            recovery = [
                `discarded commits kept at ${backup} on ${s.remote}: git fetch ${s.remote} ${backup} && git log FETCH_HEAD`,
                `to undo the reset: git push --force-with-lease=${dst}:${prepared.head} ${s.remote} ${s.tip}:${dst}`
            ];
        }
        else {
            await pushOrExplain(s.git, { remote: s.remote, src: 'HEAD', dst });
            deps.log.info(`pushed ${revert_short(prepared.head)} to ${s.remote} ${dst}`);
            recovery = [`to undo: git revert ${prepared.commits.map(revert_short).join(' ')} and push`];
        }
        return {
            status: 'succeeded',
            changed: changedLines(resolved, prepared, s),
            outputs: { 'head-sha': prepared.head },
            recovery,
            details: details(resolved, prepared, { backupRef: backup, previousHead: s.tip })
        };
    });
}
async function drillGit(step, deps, checked) {
    return withStepSession(step, deps.checkout, async (s) => {
        const resolved = await resolve(s, step.action, deps.log, checked?.fetch);
        const prepared = await prepare(s, step.action, resolved, deps.run.label);
        // Not under refs/heads: a scratch branch would start push workflows and preview builds.
        const scratch = `refs/rollback/drill/${refComponent(deps.run.request.runId)}`;
        await pushOrExplain(s.git, { remote: s.remote, src: 'HEAD', dst: scratch });
        const deleted = await s.git.deleteRemoteRef(s.remote, scratch);
        if (deleted.exitCode !== 0)
            deps.log.warn(`could not delete drill branch ${scratch}`);
        return {
            status: 'succeeded',
            changed: [
                `drill: built ${revert_short(prepared.head)} from ${revert_short(s.tip)}, pushed it to ${scratch} and deleted it`,
                ...describeResolved(resolved, s, step.action)
            ],
            details: details(resolved, prepared, { drillBranch: scratch, upToDate: prepared.upToDate })
        };
    });
}
async function skipped(step, deps) {
    deps.log.warn(`git: skipped, ${step.action.skip}`);
    return { status: 'skipped', changed: [], details: { reason: step.action.skip } };
}
const gitPhase = {
    phase: 'git',
    needs: ['checkout', 'log', 'run'],
    preflightShares: 'checkout',
    plan(runbook, request) {
        if (runbook.git === undefined)
            return [];
        const action = gitAction(runbook, request);
        if (action.skip) {
            const title = `git: nothing to roll back (${action.skip})`;
            return [
                { id: 'git', phase: 'git', title, changes: [], mutates: false, stage: 'main', action }
            ];
        }
        const title = action.strategy === 'reset'
            ? `reset ${action.branch} to ${action.resetTo ?? '?'} (force-with-lease, backup ref first)`
            : `revert ${action.revert ?? '?'} on ${action.branch}`;
        return [
            {
                id: 'git',
                phase: 'git',
                title,
                changes: describeAction(action),
                mutates: true,
                stage: 'main',
                action
            }
        ];
    },
    async preflight(steps, deps) {
        const notes = [];
        const checked = new Map();
        for (const step of steps) {
            if (step.action.skip)
                continue;
            const note = await withStepSession(step, deps.checkout, async (s) => {
                await requireClean(s);
                const resolved = await resolve(s, step.action, deps.log);
                checked.set(step.id, { tip: s.tip, fetch: fetchStats(resolved) });
                const tried = await trial(s, step.action, resolved, {
                    tempDir: deps.checkout.tempDir,
                    label: deps.run.label
                });
                const outcome = tried.upToDate
                    ? `trial run: ${s.remote}/${s.branch} already matches the result, nothing to push`
                    : `trial run: applies cleanly (${tried.commits.length} commit(s)), protected files present`;
                return {
                    stepId: step.id,
                    changes: [...describeResolved(resolved, s, step.action), outcome],
                    details: details(resolved, { ...tried, commits: [] }, { remoteHead: s.tip })
                };
            });
            notes.push(note);
        }
        return { notes, checked };
    },
    run: (step, deps, checked) => step.action.skip ? skipped(step, deps) : runGit(step, deps, checked),
    drill: (step, deps, checked) => step.action.skip ? skipped(step, deps) : drillGit(step, deps, checked)
};

;// CONCATENATED MODULE: ./src/db/assertions.ts


const MAX_REPORTED_ROWS = 20;
/** The check's single SELECT, or a RollbackError saying why it cannot be a check. */
async function assertions_checkStatement(check, field) {
    const stmts = await classifySql(check.sql).catch((err) => {
        throw new util_errors/* RollbackError */.Z(`${field}.sql: ${err instanceof Error ? err.message : err}`, `fix ${field}.sql`);
    });
    if (stmts.length !== 1 || stmts[0].kind !== 'SelectStmt' || !stmts[0].readOnly) {
        throw new util_errors/* RollbackError */.Z(`${field}.sql must be exactly one read-only SELECT (got ${stmts.map(s => s.label).join(', ') || 'nothing'})`, `a check only reads; put changes in database steps`);
    }
    // A SELECT can still change session state (set_config(), advisory locks): refused as in sql steps.
    if (stmts[0].rejected) {
        throw new util_errors/* RollbackError */.Z(`${field}.sql: ${stmts[0].rejected}`, `a check only reads`);
    }
    return stmts[0].sql;
}
function expectation(check) {
    const e = check.expect;
    const parts = [];
    if (e.rows !== undefined)
        parts.push(`${e.rows} row${e.rows === 1 ? '' : 's'}`);
    if (e['max-rows'] !== undefined)
        parts.push(`at most ${e['max-rows']} rows`);
    if (e.value !== undefined)
        parts.push(`value ${JSON.stringify(e.value)}`);
    return parts.join(' and ');
}
function sameValue(actual, expected) {
    if (actual === null || actual === undefined)
        return false;
    if (typeof expected === 'boolean') {
        return (actual === expected ||
            String(actual) === (expected ? 't' : 'f') ||
            String(actual) === String(expected));
    }
    if (typeof expected === 'number')
        return Number(actual) === expected;
    return String(actual) === expected;
}
async function runAssertion(client, check, sql, maxRows = MAX_REPORTED_ROWS) {
    const started = Date.now();
    const res = await client.query(`SELECT q.*, count(*) OVER () AS __er_total FROM (${sql}) AS q LIMIT ${maxRows + 1}`);
    const durationMs = Date.now() - started;
    const total = Number(res.rows[0]?.__er_total ?? 0);
    const rows = res.rows.slice(0, maxRows).map(r => {
        const { __er_total: _drop, ...rest } = r;
        void _drop;
        return rest;
    });
    const e = check.expect;
    const failures = [];
    if (e.rows !== undefined && total !== e.rows)
        failures.push(`${total} rows`);
    if (e['max-rows'] !== undefined && total > e['max-rows'])
        failures.push(`${total} rows`);
    if (e.value !== undefined) {
        const first = rows[0];
        const actual = first ? Object.values(first)[0] : undefined;
        if (!sameValue(actual, e.value)) {
            failures.push(`value ${first ? JSON.stringify(actual) : '(no rows)'}`);
        }
    }
    const ok = failures.length === 0;
    return {
        ok,
        summary: ok
            ? `holds: ${expectation(check)} (got ${total} row${total === 1 ? '' : 's'})`
            : `expected ${expectation(check)}, got ${[...new Set(failures)].join(' and ')}`,
        total,
        rows,
        truncated: total > rows.length,
        durationMs
    };
}

;// CONCATENATED MODULE: ./src/phases/integrity.ts




const integrityPhase = {
    phase: 'integrity',
    needs: ['database', 'log', 'run'],
    preflightShares: 'database',
    plan(runbook) {
        const steps = [];
        for (const [index, check] of (runbook.integrity ?? []).entries()) {
            for (const when of check.when) {
                steps.push({
                    id: `integrity:${index + 1}-${slug(check.name)}:${when}`,
                    phase: 'integrity',
                    title: `${check.name} (${when})`,
                    changes: [],
                    mutates: false,
                    stage: when === 'before' ? 'before' : 'main',
                    action: { index, field: `integrity[${index}]`, when, check }
                });
            }
        }
        return steps;
    },
    warmUp() {
        // Every check is parsed at preflight.
        preloadSqlParser();
    },
    async preflight(steps, deps) {
        const notes = [];
        for (const step of steps) {
            await assertions_checkStatement(step.action.check, step.action.field);
        }
        const session = await preflightSession(deps.database.settings, {
            planning: deps.run.request.command === 'plan',
            log: deps.log,
            phase: 'integrity'
        });
        if (!session)
            return { notes };
        const { client } = session;
        try {
            for (const step of steps) {
                const sql = await assertions_checkStatement(step.action.check, step.action.field);
                try {
                    await client.query(`EXPLAIN ${sql}`);
                }
                catch (err) {
                    // A check run after the rollback may read what the rollback creates: only warn for those.
                    if (step.action.when === 'before')
                        throw sqlError(err, `${step.action.field}.sql`, sql);
                    deps.log.warn(`${step.id}: ${err.message} (checked again after the rollback)`);
                }
            }
        }
        finally {
            await client.end().catch(() => { });
        }
        return { notes };
    },
    run(step, deps) {
        return assert(step, deps);
    },
    // Read-only either way: a drill runs the same assertions.
    drill(step, deps) {
        return assert(step, deps);
    }
};
async function assert(step, deps) {
    const { check, field } = step.action;
    let settings;
    try {
        settings = deps.database.settings();
        const sql = await assertions_checkStatement(check, field);
        const outcome = await withClient(settings, 'integrity', async (client) => {
            await client.query('SET default_transaction_read_only = on');
            try {
                return await runAssertion(client, check, sql, MAX_REPORTED_ROWS);
            }
            catch (err) {
                throw sqlError(err, `${field}.sql`, sql);
            }
        });
        const details = {
            check: check.name,
            when: step.action.when,
            expected: check.expect,
            total: outcome.total,
            rows: outcome.rows,
            rowsTruncated: outcome.truncated,
            durationMs: outcome.durationMs
        };
        if (outcome.ok)
            return { status: 'succeeded', changed: [], details: { ...details, result: outcome.summary } };
        const message = `${check.name}: ${outcome.summary}`;
        if (deps.run.mode === 'drill' && step.action.when === 'after') {
            // A drill rolls its changes back, so an after-check sees the data as it was.
            const note = `${message} (drill: the rollback's changes were rolled back, so this reflects the current data)`;
            deps.log.warn(note);
            return { status: 'warned', changed: [], details: { ...details, result: note } };
        }
        if (check['on-fail'] === 'warn') {
            deps.log.warn(message);
            return { status: 'warned', changed: [], details: { ...details, result: message } };
        }
        return {
            status: 'failed',
            changed: [],
            details,
            error: {
                message,
                hint: `the offending rows are in the step details (first ${MAX_REPORTED_ROWS}); fix the data or set ${field}.on-fail: warn`
            }
        };
    }
    catch (err) {
        return failedResult(err, field, settings);
    }
}

;// CONCATENATED MODULE: external "node:child_process"
const external_node_child_process_namespaceObject = require("node:child_process");
;// CONCATENATED MODULE: ./src/http/body.ts
/** Reads a response body up to a size limit, so no answer can take unbounded memory. */
async function readBounded(response, maxBytes) {
    const reader = response.body?.getReader();
    if (!reader)
        return { text: '', truncated: false };
    const chunks = [];
    let size = 0;
    let truncated = false;
    for (;;) {
        const { done, value } = await reader.read();
        if (done)
            break;
        const room = maxBytes - size;
        if (value.byteLength > room) {
            chunks.push(value.subarray(0, room));
            size += room;
            truncated = true;
            await reader.cancel().catch(() => undefined);
            break;
        }
        chunks.push(value);
        size += value.byteLength;
    }
    return { text: Buffer.concat(chunks, size).toString('utf8'), truncated };
}
/** Drops a body nobody reads, so the connection is released. */
async function discardBody(response) {
    await response.body?.cancel().catch(() => undefined);
}

;// CONCATENATED MODULE: ./src/http/clock.ts
const systemClock = {
    now: () => Date.now(),
    sleep: ms => new Promise(resolve => setTimeout(resolve, ms)),
    random: () => Math.random()
};

;// CONCATENATED MODULE: ./src/http/errors.ts
/**
 * Errors of the HTTP layer and the providers' error-body shapes. Every error is a RollbackError
 * (one sentence, a hint), and carries what a provider needs to say something more precise.
 */

const record = (value) => typeof value === 'object' && value !== null && !Array.isArray(value)
    ? value
    : {};
const str = (value) => (typeof value === 'string' ? value : undefined);
/** A non-JSON body (an HTML error page from a proxy) is quoted briefly, never at length. */
const textMessage = (text) => text.replace(/\s+/g, ' ').trim().slice(0, 200) || undefined;
/** Vercel: `{"error":{"code","message",...}}`. */
const vercelErrorShape = (body, text) => {
    const error = record(record(body).error);
    return {
        code: str(error.code),
        message: str(error.message) ?? (body === undefined ? textMessage(text) : undefined),
        details: error
    };
};
/** Netlify: `{"code":404,"message":"Not Found"}` (code is the HTTP status, a number). */
const netlifyErrorShape = (body, text) => {
    const error = record(body);
    const code = error.code;
    return {
        code: typeof code === 'number' ? String(code) : str(code),
        message: str(error.message) ?? (body === undefined ? textMessage(text) : undefined),
        details: error
    };
};
/** GitHub: `{"message","documentation_url","errors"?,"status"?}`. */
const githubErrorShape = (body, text) => {
    const error = record(body);
    return {
        message: str(error.message) ?? (body === undefined ? textMessage(text) : undefined),
        details: error
    };
};
/** Any JSON error body: `message`/`error` strings or nested `error.message`. */
const genericErrorShape = (body, text) => {
    const error = record(body);
    const nested = record(error.error);
    return {
        code: str(error.code) ?? str(nested.code),
        message: str(error.message) ??
            str(nested.message) ??
            str(error.error) ??
            (body === undefined ? textMessage(text) : undefined),
        details: error
    };
};
/** The server answered with a status the caller does not accept (after any retries). */
class HttpStatusError extends util_errors/* RollbackError */.Z {
    status;
    api;
    headers;
    what;
    constructor(message, hint, status, api, headers, 
    /** `GET /v9/projects/x`: method and path, no query (it may carry ids) and never a header. */
    what) {
        super(message, hint);
        this.status = status;
        this.api = api;
        this.headers = headers;
        this.what = what;
        this.name = 'HttpStatusError';
    }
}
/** No usable answer: unreachable, timed out, body too large, or no time left to retry. */
class HttpTransportError extends util_errors/* RollbackError */.Z {
    what;
    reason;
    constructor(message, hint, what, 
    /** The failure alone (`ECONNREFUSED`, `no answer within 5.0 s`), for callers that word their own. */
    reason) {
        super(message, hint);
        this.what = what;
        this.reason = reason;
        this.name = 'HttpTransportError';
    }
}
/** A list was not read to the end (the page cap was reached): never use it as if complete. */
class ListNotReadError extends util_errors/* RollbackError */.Z {
    constructor(message, hint) {
        super(message, hint);
        this.name = 'ListNotReadError';
    }
}
/** `401 not_authorized: message`, for error messages. */
function describeStatus(status, api) {
    const code = api.code && api.code !== String(status) ? ` ${api.code}` : '';
    return `${status}${code}: ${api.message ?? 'no message'}`;
}

;// CONCATENATED MODULE: ./src/http/retry.ts
/**
 * Which failed calls may be tried again, and when. Pure: the client asks `retryDecision` after
 * every failed try. A server's own wait (Retry-After, rate-limit reset) is honoured exactly, never
 * shortened, plus jitter; otherwise the wait grows exponentially, plus jitter. A wait that would
 * end after the call's deadline is not taken: the call fails at once, saying when to retry.
 */
const DEFAULT_RETRY = {
    maxTries: 5,
    baseDelayMs: 1_000,
    maxBackoffMs: 30_000,
    jitterMs: 1_000
};
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);
/** Idempotent methods retry on any failure by default; anything else only when marked. */
function defaultRetryWhen(method) {
    return IDEMPOTENT.has(method.toUpperCase()) ? 'any-failure' : 'never';
}
/** 429, or a 403 that is a rate limit (GitHub: remaining 0, or a Retry-After). */
function isRateLimited(status, headers) {
    if (status === 429)
        return true;
    return (status === 403 &&
        (headers.get('x-ratelimit-remaining') === '0' || headers.get('retry-after') !== null));
}
function allowed(when, failure) {
    if (when === 'never')
        return false;
    if (failure.kind === 'network')
        return when === 'any-failure';
    const { status, headers } = failure;
    if (isRateLimited(status, headers) || status === 503)
        return true;
    return status >= 500 && when !== 'rejected';
}
/**
 * How long the server asked us to wait, in ms from `nowMs` (undefined: it did not say).
 * `Retry-After` (seconds or an HTTP date) when present, as GitHub documents; otherwise
 * `X-RateLimit-Reset` (epoch seconds) when the remaining count is 0.
 */
function serverWaitMs(headers, nowMs) {
    const retryAfter = headers.get('retry-after')?.trim();
    if (retryAfter) {
        if (/^\d+(\.\d+)?$/.test(retryAfter))
            return Math.ceil(Number(retryAfter) * 1000);
        const at = Date.parse(retryAfter);
        if (Number.isFinite(at))
            return Math.max(0, at - nowMs);
    }
    const reset = headers.get('x-ratelimit-reset')?.trim();
    if (reset && /^\d+$/.test(reset) && headers.get('x-ratelimit-remaining') === '0')
        return Math.max(0, Number(reset) * 1000 - nowMs);
    return undefined;
}
function backoffMs(triesDone, settings) {
    return Math.min(settings.maxBackoffMs, settings.baseDelayMs * 2 ** Math.max(0, triesDone - 1));
}
function retryDecision(input) {
    const { failure, settings } = input;
    if (!allowed(input.when, failure))
        return { retry: false, reason: 'not-retryable' };
    if (input.triesDone >= settings.maxTries)
        return { retry: false, reason: 'tries' };
    const server = failure.kind === 'status' ? serverWaitMs(failure.headers, input.nowMs) : undefined;
    const jitter = Math.floor(Math.min(Math.max(input.random(), 0), 0.999999) * settings.jitterMs);
    const base = server ?? backoffMs(input.triesDone, settings);
    const waitMs = base + jitter;
    if (input.nowMs + waitMs > input.deadlineMs)
        return { retry: false, reason: 'deadline', retryAtMs: input.nowMs + base, waitMs };
    return { retry: true, waitMs, serverAsked: server !== undefined };
}

;// CONCATENATED MODULE: ./src/http/client.ts





const client_DEFAULTS = { timeoutMs: 30_000, budgetMs: 300_000, maxBodyBytes: 8 * 1024 * 1024 };
function failureOf(result) {
    return result.kind === 'network'
        ? { kind: 'network' }
        : { kind: 'status', status: result.response.status, headers: result.response.headers };
}
class HttpClient {
    options;
    service;
    base;
    clock;
    retrySettings;
    errorShape;
    constructor(options) {
        this.options = options;
        this.service = options.service;
        this.base = new URL(options.baseUrl.replace(/\/*$/, '/'));
        this.clock = options.clock ?? systemClock;
        this.retrySettings = { ...DEFAULT_RETRY, ...options.retry };
        this.errorShape = options.errorShape ?? genericErrorShape;
    }
    /** Resolves `target` (a path like `/v9/projects/x`, or a same-origin absolute URL). */
    url(target, query = {}) {
        const absolute = /^https?:\/\//i.test(target);
        const url = absolute ? new URL(target) : new URL(target.replace(/^\/+/, ''), this.base);
        if (url.origin !== this.base.origin)
            // A next-page link elsewhere must not receive our token.
            throw new HttpTransportError(`${this.service} pointed to ${url.origin}, another origin than ${this.base.origin}: not followed`, 'This answer is unexpected from the API; check the configured API URL.', `GET ${url.pathname}`);
        for (const [k, v] of Object.entries({ ...this.options.query, ...query }))
            if (v !== undefined)
                url.searchParams.set(k, v);
        return url;
    }
    /** The call, retried per the policy; a 2xx (or an `accept`ed status) answer. */
    async request(method, target, opts = {}) {
        const url = this.url(target, opts.query);
        const what = opts.label ?? `${method} ${url.pathname}`;
        const started = this.clock.now();
        const deadline = opts.deadline ?? started + (this.options.budgetMs ?? client_DEFAULTS.budgetMs);
        const when = opts.retry ?? defaultRetryWhen(method);
        let slept = 0;
        // Waited time counts even when an injected sleep returns at once: the deadline still binds.
        const lateBy = () => Math.max(0, started + slept - this.clock.now());
        for (let tries = 1;; tries++) {
            const remaining = deadline - lateBy() - this.clock.now();
            if (remaining <= 0)
                throw new HttpTransportError(`${this.service} ${what}: no time left for it before the deadline (try ${tries})`, 'The step ran out of time; rerun it: the rollback converges on a rerun.', what);
            const timeout = Math.min(opts.timeoutMs ?? this.options.timeoutMs ?? client_DEFAULTS.timeoutMs, remaining);
            const result = await this.tryOnce(method, url, what, opts, timeout);
            if (result.kind === 'answer') {
                const { status } = result.response;
                if ((status >= 200 && status < 300) || opts.accept?.includes(status))
                    return result.response;
            }
            const decision = retryDecision({
                when,
                failure: failureOf(result),
                triesDone: tries,
                settings: this.retrySettings,
                nowMs: this.clock.now(),
                deadlineMs: deadline - lateBy(),
                random: this.clock.random
            });
            if (decision.retry) {
                this.options.log?.warn(`${this.service} ${what}: ${this.summary(result)}; retrying in ${(0,duration/* formatDuration */.a3)(decision.waitMs)} (try ${tries}/${this.retrySettings.maxTries})`);
                await this.clock.sleep(decision.waitMs);
                slept += decision.waitMs;
                continue;
            }
            throw result.kind === 'network'
                ? this.networkError(what, result.message, tries)
                : this.statusError(what, result.response, tries, decision);
        }
    }
    networkError(what, message, tries) {
        return new HttpTransportError(`cannot reach ${this.service} for ${what}: ${message}${tries > 1 ? ` (${tries} tries)` : ''}`, `Check the network path to ${this.base.host} (proxy settings, firewall) and rerun.`, what, message);
    }
    /** `request`, then the body as JSON. */
    async json(method, target, opts = {}) {
        return (await this.request(method, target, opts)).json();
    }
    summary(result) {
        if (result.kind === 'network')
            return result.message;
        return describeStatus(result.response.status, this.apiError(result.response));
    }
    apiError(response) {
        let body;
        try {
            body = response.text ? JSON.parse(response.text) : {};
        }
        catch {
            body = undefined;
        }
        return this.errorShape(body, response.text);
    }
    statusError(what, response, tries, decision) {
        const api = this.apiError(response);
        const detail = describeStatus(response.status, api);
        const make = (message, hint) => new HttpStatusError(message, hint, response.status, api, response.headers, what);
        if (decision.reason === 'deadline') {
            const at = new Date(decision.retryAtMs).toISOString();
            return make(`${this.service} ${what}: ${detail}; the server asks to wait ${(0,duration/* formatDuration */.a3)(decision.waitMs)}, past this step's deadline`, `Retry after ${at}: the rollback converges on a rerun.`);
        }
        const generic = decision.reason === 'tries'
            ? make(`${this.service} ${what} still failing after ${tries} tries (last: ${detail})`, `${this.service} is rate limiting or unavailable: check its status page and rerun; the rollback converges on a rerun.`)
            : make(`${this.service} ${what} failed (${detail})`);
        // Exhausted retries are about the service's state, not about what the caller must fix.
        if (decision.reason === 'tries')
            return generic;
        return this.options.mapError?.(generic) ?? generic;
    }
    async tryOnce(method, url, what, opts, timeoutMs) {
        const fetch = this.options.fetch ?? globalThis.fetch;
        const headers = {
            accept: 'application/json',
            'user-agent': 'emergency-rollback',
            ...this.options.headers,
            ...opts.headers,
            ...(opts.json !== undefined ? { 'content-type': 'application/json' } : {})
        };
        const maxBytes = opts.maxBodyBytes ?? this.options.maxBodyBytes ?? client_DEFAULTS.maxBodyBytes;
        let response;
        let body;
        try {
            const signal = AbortSignal.timeout(timeoutMs);
            response = await fetch(url, {
                method,
                headers,
                body: opts.json !== undefined ? JSON.stringify(opts.json) : undefined,
                signal,
                redirect: 'manual'
            });
            body = await readBounded(response, maxBytes);
        }
        catch (err) {
            return { kind: 'network', message: networkMessage(err, timeoutMs) };
        }
        if (body.truncated)
            throw new HttpTransportError(`${this.service} ${what} answered more than ${maxBytes} bytes: not read`, 'The answer is far larger than this API sends; check the configured API URL.', what);
        return { kind: 'answer', response: this.answer(what, response, body.text) };
    }
    answer(what, response, text) {
        const service = this.service;
        return {
            status: response.status,
            headers: response.headers,
            text,
            json() {
                try {
                    return (text ? JSON.parse(text) : {});
                }
                catch {
                    throw new HttpTransportError(`${service} ${what} answered ${response.status} with a body that is not JSON`, 'Check the configured API URL (a proxy or a login page may be answering instead).', what);
                }
            }
        };
    }
}
/** `no answer within 30.0 s`, `ECONNREFUSED 127.0.0.1:9`: one line, no stack. */
function networkMessage(err, timeoutMs) {
    // Duck-typed: a DOMException or an error from another realm is not `instanceof Error`.
    const e = (typeof err === 'object' && err !== null ? err : {});
    if (e.name === 'TimeoutError' || e.name === 'AbortError')
        return `no answer within ${(0,duration/* formatDuration */.a3)(timeoutMs)}`;
    if (e.cause?.code)
        return e.cause.code;
    return e.message ?? String(err);
}

;// CONCATENATED MODULE: ./src/http/paginate.ts

const DEFAULT_MAX_PAGES = 50;
function capped(what, maxPages) {
    return new ListNotReadError(`${what} has more than ${maxPages} pages: it was not read to the end, so it is not used`, 'Remove unused entries on the platform, or raise the page cap where this list is read.');
}
/** The `rel="next"` URL of a Link header, if any. */
function nextLink(header) {
    if (!header)
        return undefined;
    for (const part of header.split(',')) {
        const match = /<([^>]*)>\s*;(.*)$/.exec(part.trim());
        if (match && /\brel="?([^"]*\s)?next(\s[^"]*)?"?/i.test(match[2]))
            return match[1];
    }
    return undefined;
}
/** Follows `Link: rel="next"` from `path`; `items` picks a page's entries from its JSON body. */
async function readLinkedPages(client, path, items, options) {
    const maxPages = options.maxPages ?? DEFAULT_MAX_PAGES;
    const all = [];
    let target = path;
    let query = options.query;
    for (let page = 1; target !== undefined; page++) {
        if (page > maxPages)
            throw capped(options.what, maxPages);
        const response = await client.request('GET', target, { ...options.request, query });
        const entries = items(response.json());
        all.push(...entries);
        if (options.stopWhen?.(entries))
            return all;
        target = nextLink(response.headers.get('link'));
        // The next link carries its own query.
        query = undefined;
    }
    return all;
}
/** Vercel: `{<key>: [...], pagination: {next}}`, the next page asked with `until=<next>`. */
async function readVercelPages(client, path, key, options) {
    const maxPages = options.maxPages ?? DEFAULT_MAX_PAGES;
    const all = [];
    let until;
    for (let page = 1;; page++) {
        if (page > maxPages)
            throw capped(options.what, maxPages);
        const body = await client.json('GET', path, {
            ...options.request,
            query: { ...options.query, until }
        });
        const entries = body[key];
        if (!Array.isArray(entries))
            throw new ListNotReadError(`${options.what}: the answer has no \`${key}\` list`, 'Check the configured API URL.');
        all.push(...entries);
        if (options.stopWhen?.(entries))
            return all;
        const next = body.pagination?.next;
        if (next === null || next === undefined)
            return all;
        until = String(next);
    }
}
/**
 * `page=1,2,...` with `per_page`: stops at a page shorter than `perPage`, or, when the server
 * sends Link headers, at the page without a `rel="next"`.
 */
async function readNumberedPages(client, path, items, options) {
    const maxPages = options.maxPages ?? DEFAULT_MAX_PAGES;
    const perPage = options.perPage ?? 100;
    const all = [];
    for (let page = 1;; page++) {
        if (page > maxPages)
            throw capped(options.what, maxPages);
        const response = await client.request('GET', path, {
            ...options.request,
            query: { ...options.query, page: String(page), per_page: String(perPage) }
        });
        const entries = items(response.json());
        all.push(...entries);
        if (options.stopWhen?.(entries))
            return all;
        const link = response.headers.get('link');
        const more = link !== null ? nextLink(link) !== undefined : entries.length >= perPage;
        if (!more || entries.length === 0)
            return all;
    }
}

;// CONCATENATED MODULE: ./src/http/poll.ts
/**
 * Waiting for something to finish (a build, a workflow run) on a schedule, under a deadline.
 * Time is the larger of the wall clock and the sum of requested sleeps, so an injected instant
 * sleep still reaches the deadline.
 */


/** Vercel CLI's: 1 s for 15 s, 5 s to 1 min, 15 s to 5 min, then 30 s. */
const VERCEL_POLL_SCHEDULE = [
    { untilMs: 15_000, everyMs: 1_000 },
    { untilMs: 60_000, everyMs: 5_000 },
    { untilMs: 300_000, everyMs: 15_000 },
    { everyMs: 30_000 }
];
function pollInterval(elapsed, schedule = VERCEL_POLL_SCHEDULE) {
    const step = schedule.find(s => s.untilMs === undefined || elapsed < s.untilMs);
    return (step ?? schedule[schedule.length - 1]).everyMs;
}
async function poll(options) {
    const { clock, timeoutMs } = options;
    const started = clock.now();
    let slept = 0;
    let last = '';
    for (;;) {
        const result = await options.check();
        if (result.done)
            return result.value;
        if (result.state !== last)
            options.onState?.(result.state);
        last = result.state;
        const elapsed = (0,duration/* elapsedMs */.d5)(started, slept, clock.now());
        if (elapsed >= timeoutMs)
            throw (options.timeoutError?.(last, timeoutMs) ??
                new util_errors/* RollbackError */.Z(`still ${last} after ${(0,duration/* formatDuration */.a3)(timeoutMs)}`));
        const wait = Math.min(pollInterval(elapsed, options.schedule), timeoutMs - elapsed);
        await clock.sleep(wait);
        slept += wait;
    }
}

;// CONCATENATED MODULE: ./src/http/proxy.ts
/** The settings from an environment snapshot (the entry point passes process.env). */
function proxySettingsFrom(env) {
    const pick = (name) => env[name.toLowerCase()] || env[name] || undefined;
    return {
        httpProxy: pick('HTTP_PROXY'),
        httpsProxy: pick('HTTPS_PROXY'),
        noProxy: pick('NO_PROXY')
    };
}
const DEFAULT_PORTS = { 'http:': '80', 'https:': '443' };
/** NO_PROXY says `url` goes direct. */
function bypassesProxy(url, noProxy) {
    if (!noProxy)
        return false;
    const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
    const port = url.port || DEFAULT_PORTS[url.protocol] || '';
    for (const raw of noProxy.split(/[,\s]+/)) {
        const entry = raw.trim().toLowerCase();
        if (!entry)
            continue;
        if (entry === '*')
            return true;
        const match = /^(.*?)(?::(\d+))?$/.exec(entry.replace(/^\[|\](?=:|$)/g, ''));
        const [name = '', entryPort] = [match[1], match[2]];
        if (entryPort && entryPort !== port)
            continue;
        const bare = name.replace(/^\*?\./, '');
        if (host === bare || host.endsWith(`.${bare}`))
            return true;
    }
    return false;
}
/** The proxy URL for `url`, or undefined when it goes direct. */
function proxyFor(url, settings) {
    const proxy = url.protocol === 'https:' ? (settings.httpsProxy ?? settings.httpProxy) : settings.httpProxy;
    if (!proxy || bypassesProxy(url, settings.noProxy))
        return undefined;
    return proxy;
}
/**
 * A fetch honouring `settings`. Without any proxy it is the global fetch. With one, requests go
 * through undici's fetch with a ProxyAgent (one per proxy URL, kept for the process's life).
 */
function createFetch(settings = {}) {
    if (!settings.httpProxy && !settings.httpsProxy)
        return (input, init) => globalThis.fetch(input, init);
    const agents = new Map();
    const agent = (proxy) => {
        let found = agents.get(proxy);
        if (!found) {
            found = __nccwpck_require__.e(/* import() */ 752).then(__nccwpck_require__.t.bind(__nccwpck_require__, 4371, 19)).then(({ ProxyAgent }) => new ProxyAgent({ uri: proxy }));
            agents.set(proxy, found);
        }
        return found;
    };
    return async (input, init) => {
        const url = new URL(input instanceof Request ? input.url : String(input));
        const proxy = proxyFor(url, settings);
        if (!proxy)
            return globalThis.fetch(input, init);
        const [{ fetch }, dispatcher] = await Promise.all([__nccwpck_require__.e(/* import() */ 752).then(__nccwpck_require__.t.bind(__nccwpck_require__, 4371, 19)), agent(proxy)]);
        // undici's own fetch: its Response has the global one's shape.
        const response = await fetch(input, {
            ...init,
            dispatcher
        });
        return response;
    };
}

;// CONCATENATED MODULE: ./src/http/simple.ts
/**
 * Two one-call helpers for callers that are not an API client: verify's checks (a GET with a
 * timeout, no retry, bounded body) and the webhook (a POST of JSON, retried only when the server
 * answered 429 or 5xx, honouring Retry-After, under a deadline).
 */




/**
 * One request, no retry (the caller's own schedule decides when to look again). Any status is an
 * answer; only an unreachable host or a timeout throws (HttpTransportError, one line).
 */
async function checkUrl(url, options) {
    const fetch = options.fetch ?? globalThis.fetch;
    const method = options.method ?? 'GET';
    try {
        const response = await fetch(url, {
            method,
            headers: options.headers,
            body: options.body,
            signal: AbortSignal.timeout(options.timeoutMs)
        });
        const body = await readBounded(response, options.maxBytes ?? 1024 * 1024);
        return { status: response.status, headers: response.headers, ...body };
    }
    catch (err) {
        const what = `${method} ${new URL(url).host}`;
        const reason = networkMessage(err, options.timeoutMs);
        throw new HttpTransportError(`${what}: ${reason}`, undefined, what, reason);
    }
}
/**
 * POSTs `payload` as JSON; retries only answers 429/5xx (a repeated notification is harmless, a
 * network error mid-send may have delivered it), after Retry-After when given. Throws
 * HttpStatusError / HttpTransportError; the message names the host, never the URL's path or query
 * (a webhook URL is a secret).
 */
async function postJson(url, payload, options = {}) {
    const target = new URL(url);
    const client = new HttpClient({
        service: options.service ?? `webhook ${target.host}`,
        baseUrl: target.origin,
        fetch: options.fetch,
        clock: options.clock ?? systemClock,
        timeoutMs: options.timeoutMs ?? 10_000,
        budgetMs: options.budgetMs ?? 60_000,
        maxBodyBytes: options.maxBytes ?? 64 * 1024,
        retry: { maxTries: options.maxTries ?? 3 }
    });
    const response = await client.request('POST', target.href, {
        json: payload,
        headers: options.headers,
        retry: 'server-error',
        label: 'POST'
    });
    return { status: response.status, text: response.text };
}

;// CONCATENATED MODULE: ./src/http/index.ts
/**
 * The HTTP layer every outbound call uses (hosting providers, the webhook, verify's checks).
 *
 * API (kept stable; the Netlify provider builds on it):
 *
 *   const http = new HttpClient({
 *     service: 'Netlify',                       // names the service in messages
 *     baseUrl: 'https://api.netlify.com/api/v1',
 *     headers: { authorization: `Bearer ${token}` },   // never logged
 *     query: { teamId },                        // optional, added to every request
 *     fetch,                                    // optional: createFetch(proxy) from the entry point, or a test's
 *     clock,                                    // optional { now, sleep, random } (tests inject)
 *     timeoutMs, budgetMs, maxBodyBytes,        // per try (30 s), per call incl. retries (5 min), body (8 MiB)
 *     retry: { maxTries, baseDelayMs, maxBackoffMs, jitterMs },
 *     errorShape: netlifyErrorShape,            // vercelErrorShape | netlifyErrorShape | githubErrorShape
 *     mapError: e => ...,                       // HttpStatusError -> the provider's own RollbackError | undefined
 *     log
 *   })
 *   await http.json<T>('GET', '/sites/x', { query, deadline, timeoutMs, accept: [404] })
 *   await http.request('POST', '/sites/x/builds', { json: body, retry: 'rejected' })
 *     -> HttpResponse { status, headers, text, json<T>() }
 *
 * Retries (retry.ts): `retry` is `never` | `rejected` (429/503/rate-limit 403 only) |
 * `server-error` (also other 5xx) | `any-failure` (also network errors, timeouts). Default:
 * `any-failure` for GET/HEAD/OPTIONS/PUT/DELETE, `never` for POST/PATCH (mark a POST that is safe
 * to repeat). Retry-After (seconds or HTTP date) and X-RateLimit-Reset are honoured exactly plus
 * jitter; otherwise exponential back-off plus jitter; at most `maxTries` tries; a wait past the
 * call's deadline fails at once with "retry after <time>".
 *
 * Failures throw RollbackErrors: HttpStatusError { status, api: {code, message, details},
 * headers, what } (after `mapError`), HttpTransportError (unreachable, timeout, body too large,
 * no time left), ListNotReadError (a list longer than its page cap).
 *
 * Lists (paginate.ts): readLinkedPages (Link rel="next"), readVercelPages (pagination.next ->
 * until=), readNumberedPages (page/per_page; Link or a short page ends it); all capped by maxPages.
 * Polling (poll.ts): poll({ check, timeoutMs, clock, schedule = VERCEL_POLL_SCHEDULE, onState,
 * timeoutError }). Proxy (proxy.ts): the entry point calls createFetch(proxySettingsFrom(env)).
 * One-call helpers (simple.ts): checkUrl (verify: no retry, bounded body, any status is an
 * answer) and postJson (webhook: retried on 429/5xx only, path kept out of messages).
 */









;// CONCATENATED MODULE: ./src/phases/verify.ts
/**
 * verify phase: HTTP checks polled until the page shows the expected state (e.g. "polling mode"),
 * bounded by each check's timeout, with the last status and a body snippet as the reason when it
 * never does; plus an optional smoke command that must exit 0 within its timeout.
 * Everything here is read-only; in a drill each check is probed once (production was not rolled
 * back, so a mismatch is expected and only warned about) and the smoke command is not run.
 */



/** Body bytes a check reads: enough for any status page, bounded for any answer. */
const CHECK_BODY_BYTES = 1024 * 1024;
function snippetOf(body, redactor) {
    const text = body
        .replace(/<script[\s\S]*?<\/script>/gi, ' ')
        .replace(/<[^>]+>/g, ' ')
        .replace(/\s+/g, ' ')
        .trim();
    return redactor.redact(text.length > 160 ? `${text.slice(0, 160)}…` : text);
}
/** One GET of a check: status, expected text, rejected text. Never throws. */
async function probe(check, deps) {
    const started = Date.now();
    const redactor = deps.redactor;
    try {
        // Bounded: a check only looks for its text near the top of a page.
        const response = await checkUrl(check.url, {
            headers: { 'user-agent': 'emergency-rollback-verify', 'cache-control': 'no-cache' },
            timeoutMs: Math.min(30_000, (0,duration/* parseDuration */.E9)(check.timeout)),
            maxBytes: CHECK_BODY_BYTES,
            fetch: deps.fetch
        });
        const body = response.text;
        const snippet = snippetOf(body, redactor);
        const ms = Date.now() - started;
        const expected = check['expect-status'];
        let reason = '';
        if (response.status !== expected)
            reason = `HTTP ${response.status} (expected ${expected})`;
        else if (check['expect-text'] !== undefined && !body.includes(check['expect-text']))
            reason = `body does not contain "${check['expect-text']}"`;
        else if (check['reject-text'] !== undefined && body.includes(check['reject-text']))
            reason = `body contains "${check['reject-text']}"`;
        return { ok: reason === '', status: response.status, reason, snippet, ms };
    }
    catch (err) {
        const message = err instanceof HttpTransportError
            ? (err.reason ?? err.message)
            : err instanceof Error
                ? err.message
                : String(err);
        return {
            ok: false,
            reason: redactor.redact(`request failed: ${message}`),
            snippet: '',
            ms: Date.now() - started
        };
    }
}
function verify_slug(name) {
    return name
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, '-')
        .replace(/^-|-$/g, '')
        .slice(0, 40);
}
async function pollCheck(check, deps) {
    const timeoutMs = (0,duration/* parseDuration */.E9)(check.timeout);
    const intervalMs = (0,duration/* parseDuration */.E9)(check.interval);
    const started = Date.now();
    let slept = 0;
    let attempts = 0;
    for (;;) {
        attempts++;
        const result = await probe(check, deps);
        const elapsed = (0,duration/* elapsedMs */.d5)(started, slept, Date.now());
        if (result.ok)
            return {
                status: 'succeeded',
                changed: [],
                details: { url: check.url, status: result.status, attempts, elapsedMs: elapsed }
            };
        deps.log.info(`verify: ${check.name}: ${result.reason} (attempt ${attempts})`);
        if (elapsed >= timeoutMs) {
            const last = result.status !== undefined ? `HTTP ${result.status}` : 'no response';
            return {
                status: 'failed',
                changed: [],
                details: { url: check.url, attempts, lastStatus: result.status, snippet: result.snippet },
                error: {
                    message: `${check.name}: not as expected after ${(0,duration/* formatDuration */.a3)(timeoutMs)} (${attempts} attempts): ${result.reason}; last response ${last}${result.snippet ? `: "${result.snippet}"` : ''}`,
                    hint: check['expect-text'] !== undefined
                        ? 'If the redeploy is live but the page still shows the old state, the build may have reused cached NEXT_PUBLIC_* values: set VERCEL_FORCE_NO_BUILD_CACHE=1 on the project, rerun; or raise the check timeout if the CDN lags.'
                        : 'Open the URL yourself; raise the check timeout if the service needs longer to come back.'
                }
            };
        }
        const wait = Math.min(intervalMs, timeoutMs - elapsed);
        await deps.clock.sleep(wait);
        slept += wait;
    }
}
async function runSmoke(action, deps) {
    const redactor = deps.redactor;
    const started = Date.now();
    let output = '';
    const keep = (chunk) => {
        output = (output + chunk.toString('utf8')).slice(-4000);
    };
    const outcome = await new Promise(resolve => {
        const child = (0,external_node_child_process_namespaceObject.spawn)(action.run, {
            shell: true,
            cwd: deps.checkout.workdir,
            env: { ...deps.checkout.env },
            detached: true,
            stdio: ['ignore', 'pipe', 'pipe']
        });
        let timedOut = false;
        const kill = (signal) => {
            try {
                if (child.pid)
                    process.kill(-child.pid, signal);
            }
            catch {
                // already gone
            }
        };
        const timer = setTimeout(() => {
            timedOut = true;
            kill('SIGTERM');
            setTimeout(() => kill('SIGKILL'), 5000).unref();
        }, action.timeoutMs);
        child.stdout.on('data', keep);
        child.stderr.on('data', keep);
        child.on('error', err => {
            clearTimeout(timer);
            resolve({ code: null, signal: null, timedOut, error: err.message });
        });
        child.on('close', (code, signal) => {
            clearTimeout(timer);
            resolve({ code, signal, timedOut });
        });
    });
    const durationMs = Date.now() - started;
    const tail = redactor.redact(output.trim().split('\n').slice(-20).join('\n'));
    const details = {
        command: redactor.redact(action.run),
        exitCode: outcome.code,
        durationMs,
        outputTail: tail
    };
    if (outcome.code === 0 && !outcome.timedOut)
        return { status: 'succeeded', changed: [], details };
    const why = outcome.timedOut
        ? `timed out after ${(0,duration/* formatDuration */.a3)(action.timeoutMs)} and was stopped`
        : outcome.error
            ? `could not start: ${outcome.error}`
            : `exited with ${outcome.code ?? outcome.signal}`;
    return {
        status: 'failed',
        changed: [],
        details,
        error: {
            message: `smoke command ${why}${tail ? `; last output: ${tail.split('\n').slice(-3).join(' | ')}` : ''}`,
            hint: 'Run the smoke command yourself against production to see the full output.'
        }
    };
}
const verifyPhase = {
    phase: 'verify',
    needs: ['fetch', 'redactor', 'log', 'clock', 'checkout'],
    plan(runbook) {
        const verify = runbook.verify;
        if (verify === undefined)
            return [];
        const used = new Set();
        const steps = verify.checks.map((check, index) => {
            let id = `verify:${verify_slug(check.name) || index + 1}`;
            if (used.has(id))
                id = `${id}-${index + 1}`;
            used.add(id);
            const expectations = [
                `HTTP ${check['expect-status']}`,
                check['expect-text'] !== undefined ? `contains "${check['expect-text']}"` : undefined,
                check['reject-text'] !== undefined
                    ? `does not contain "${check['reject-text']}"`
                    : undefined
            ].filter(Boolean);
            return {
                id,
                phase: 'verify',
                title: `Check ${check.name}: ${check.url} (${expectations.join(', ')}) within ${check.timeout}`,
                changes: [],
                mutates: false,
                stage: 'main',
                action: { kind: 'http', check }
            };
        });
        if (verify.smoke)
            steps.push({
                id: 'verify:smoke',
                phase: 'verify',
                title: `Smoke test \`${verify.smoke.run}\` exits 0 within ${verify.smoke.timeout}`,
                changes: [],
                mutates: false,
                stage: 'main',
                action: {
                    kind: 'smoke',
                    run: verify.smoke.run,
                    timeoutMs: (0,duration/* parseDuration */.E9)(verify.smoke.timeout)
                }
            });
        return steps;
    },
    run(step, deps) {
        return step.action.kind === 'http'
            ? pollCheck(step.action.check, deps)
            : runSmoke(step.action, deps);
    },
    async drill(step, deps) {
        if (step.action.kind === 'smoke')
            return {
                status: 'skipped',
                changed: [],
                details: { reason: 'the smoke command is not run in a drill', command: step.action.run }
            };
        const check = step.action.check;
        const result = await probe(check, deps);
        const details = {
            url: check.url,
            status: result.status,
            now: result.reason || 'as expected',
            snippet: result.snippet
        };
        if (result.ok)
            return { status: 'succeeded', changed: [], details };
        if (result.status === undefined)
            return {
                status: 'failed',
                changed: [],
                details,
                error: {
                    message: `${check.name}: ${result.reason}`,
                    hint: 'The check URL must be reachable from the runner.'
                }
            };
        return {
            status: 'warned',
            changed: [],
            details,
            error: {
                message: `${check.name}: reachable, currently ${result.reason} (expected before a real rollback)`
            }
        };
    }
};

;// CONCATENATED MODULE: ./src/phases/monitor.ts





/** One read-only session (db/connection names it, masks the URL and explains failures). */
async function monitor_connect(deps) {
    const redactor = deps.redactor;
    const client = await connect(deps.database.settings(), 'monitor');
    await client.query('SET default_transaction_read_only = on');
    return {
        async value(sql) {
            try {
                const result = await client.query({ text: sql, rowMode: 'array' });
                const first = result.rows[0]?.[0];
                const value = Number(first);
                if (first === null || first === undefined || !Number.isFinite(value))
                    throw new Error(`returned ${JSON.stringify(first ?? null)}, not a number`);
                return value;
            }
            catch (err) {
                throw new Error(redactor.redact(err instanceof Error ? err.message : String(err)));
            }
        },
        close: () => client.end().catch(() => undefined)
    };
}
async function takeSample(index, atMs, config, deps, db) {
    const health = [];
    for (const check of config.health) {
        const r = await probe(check, deps);
        health.push({
            name: check.name,
            ok: r.ok,
            status: r.status,
            ...(r.ok ? {} : { reason: r.reason }),
            ms: r.ms
        });
    }
    const metrics = [];
    for (const metric of config.metrics) {
        try {
            const value = await db.value(metric.sql);
            let reason;
            if (metric.max !== undefined && value > metric.max)
                reason = `${value} above max ${metric.max}`;
            if (metric.min !== undefined && value < metric.min)
                reason = `${value} below min ${metric.min}`;
            metrics.push({ name: metric.name, value, ok: reason === undefined, reason });
        }
        catch (err) {
            metrics.push({
                name: metric.name,
                ok: false,
                reason: `query failed: ${err instanceof Error ? err.message : String(err)}`
            });
        }
    }
    return { index, atMs, health, metrics };
}
function metricsNeedDb(action, deps) {
    if (action.config.metrics.length === 0)
        return undefined;
    const url = deps.database.url();
    if (!url)
        throw new model/* RollbackError */.Z(`monitor.metrics need a database, but ${action.urlEnv} is not set`, `Pass the database-url input or set ${action.urlEnv} (runbook database.url-env), or remove monitor.metrics.`);
    return url;
}
async function watch(action, deps, once) {
    const { config } = action;
    const url = metricsNeedDb(action, deps);
    const db = url ? await monitor_connect(deps) : undefined;
    const total = once ? 1 : Math.max(1, Math.floor(action.durationMs / action.intervalMs) + 1);
    const plannedProbes = total * config.health.length;
    const maxErrors = config['max-error-rate'] * plannedProbes;
    const samples = [];
    const started = Date.now();
    let slept = 0;
    let probes = 0;
    let failedProbes = 0;
    let metricBreach;
    try {
        for (let i = 0; i < total; i++) {
            if (i > 0) {
                await deps.clock.sleep(action.intervalMs);
                slept += action.intervalMs;
            }
            const sample = await takeSample(i + 1, (0,duration/* elapsedMs */.d5)(started, slept, Date.now()), config, deps, db);
            samples.push(sample);
            probes += sample.health.length;
            failedProbes += sample.health.filter(h => !h.ok).length;
            const bad = sample.metrics.find(m => !m.ok);
            if (bad && !metricBreach)
                metricBreach = `${bad.name}: ${bad.reason} (sample ${i + 1})`;
            const line = [
                ...sample.health.map(h => `${h.name} ${h.ok ? 'ok' : h.reason}`),
                ...sample.metrics.map(m => `${m.name}=${m.value ?? m.reason}`)
            ].join('; ');
            deps.log.info(`monitor: sample ${i + 1}/${total}: ${line}`);
            // Stop as soon as the outcome cannot change any more.
            if (!once && (metricBreach || failedProbes > maxErrors))
                break;
        }
    }
    finally {
        await db?.close();
    }
    const errorRate = probes === 0 ? 0 : failedProbes / probes;
    const finalRate = once ? errorRate : failedProbes / Math.max(plannedProbes, 1);
    const details = {
        samples,
        probes,
        failedProbes,
        errorRate,
        maxErrorRate: config['max-error-rate'],
        watchedMs: (0,duration/* elapsedMs */.d5)(started, slept, Date.now())
    };
    const pct = (x) => `${Math.round(x * 1000) / 10}%`;
    const problems = [];
    if (plannedProbes > 0 && (once ? errorRate : finalRate) > config['max-error-rate'])
        problems.push(`health error rate ${pct(errorRate)} (${failedProbes}/${probes} probes failed) exceeds max-error-rate ${pct(config['max-error-rate'])}`);
    if (metricBreach)
        problems.push(`metric ${metricBreach}`);
    if (problems.length === 0)
        return { status: 'succeeded', changed: [], details };
    return {
        status: once ? 'warned' : 'failed',
        changed: [],
        details,
        error: {
            message: `${problems.join('; ')}${once ? '' : ` after ${(0,duration/* formatDuration */.a3)(details.watchedMs)} of ${(0,duration/* formatDuration */.a3)(action.durationMs)}`}`,
            hint: 'The system is not stable yet: look at the samples in the report and decide whether to escalate.'
        }
    };
}
const monitorPhase = {
    phase: 'monitor',
    needs: ['database', 'fetch', 'redactor', 'log', 'clock'],
    plan(runbook) {
        const config = runbook.monitor;
        if (config === undefined)
            return [];
        const action = {
            config,
            durationMs: (0,duration/* parseDuration */.E9)(config.duration),
            intervalMs: (0,duration/* parseDuration */.E9)(config.interval),
            urlEnv: runbook.database?.['url-env'] ?? 'DATABASE_URL'
        };
        return [
            {
                id: 'monitor',
                phase: 'monitor',
                title: `Watch ${config.health.length} health check(s) and ${config.metrics.length} metric(s) for ${config.duration}, every ${config.interval} (fail above ${config['max-error-rate'] * 100}% errors)`,
                changes: [],
                mutates: false,
                stage: 'main',
                action
            }
        ];
    },
    async preflight(steps, deps) {
        for (const step of steps) {
            metricsNeedDb(step.action, deps);
            // Metrics only read: one read-only SELECT each, which cannot change the session either
            // (set_config() would turn the monitor session's read-only default off).
            for (const [i, metric] of step.action.config.metrics.entries()) {
                await assertions_checkStatement(metric, `monitor.metrics[${i}]`);
            }
        }
        return {};
    },
    run(step, deps) {
        return watch(step.action, deps, false);
    },
    /** One sample: proves the probes and queries work; an unhealthy sample only warns. */
    drill(step, deps) {
        return watch(step.action, deps, true);
    }
};

;// CONCATENATED MODULE: ./src/phases/notify/message.ts
/** GitHub refuses comment and issue bodies over 65 536 characters. */
const MAX_BODY = 60_000;
function fit(text) {
    if (text.length <= MAX_BODY)
        return text;
    return `${text.slice(0, MAX_BODY)}\n\n… (report truncated: the full report is in the job summary and the JSON report)`;
}
/** "[drill] " or "[investigate only] " (severities that change nothing), else "". */
function tag(run, action) {
    if (run.mode === 'drill')
        return '[drill] ';
    return action.investigateOnly ? '[investigate only] ' : '';
}
const statusMarker = (run) => `<!-- emergency-rollback:${run.request.runId} -->`;
/**
 * Marks the incident issue of one rollback: this runbook, this workflow run (all its attempts;
 * the run's URL has no attempt number). A re-run of failed jobs finds it; a new run does not.
 */
const incidentMarker = (run) => `<!-- emergency-rollback-incident:${encodeURIComponent(run.runbookName)}:${encodeURIComponent(run.runUrl ?? run.request.runId)} -->`;
function header(run, headline) {
    const r = run.request;
    const facts = [
        `**Runbook:** ${run.runbookName}`,
        `**Severity:** ${r.severity}`,
        `**Command:** ${r.command}`,
        r.trigger.actor ? `**Triggered by:** @${r.trigger.actor}` : undefined,
        run.runUrl ? `[Workflow run](${run.runUrl})` : undefined
    ].filter(Boolean);
    return `${statusMarker(run)}\n### ${headline}\n\n${facts.join(' · ')}\n`;
}
function closingMessage(action, run, failed) {
    const text = failed ? action.config.messages.failed : action.config.messages.complete;
    return { failed, text, headline: `${failed ? '❌' : '✅'} ${tag(run, action)}${text}` };
}

;// CONCATENATED MODULE: ./src/phases/notify/channels.ts


/** Runs one notification; `fn` may return a more precise account of what it did. */
async function attempt(n, what, fn) {
    try {
        n.done.push((await fn()) ?? what);
    }
    catch (err) {
        n.problems.push(`${what}: ${n.clean(err instanceof Error ? err.message : String(err))}`);
    }
}
async function statusComment(n) {
    if (!n.action.config['status-comment'])
        return;
    const issue = n.deps.run.request.trigger.issueNumber;
    const existing = Number(n.deps.progress.outputs['status-comment-id']);
    const client = n.client;
    if (!client)
        n.skipped.push(`status comment: ${n.deps.github.unavailable()}`);
    // A comment this run already has (its own earlier notice, or the ChatOps reply) is updated.
    else if (Number.isInteger(existing) && existing > 0)
        await attempt(n, `status comment ${existing} updated`, async () => {
            await client.updateComment(existing, n.body);
        });
    else if (issue === undefined)
        n.skipped.push('status comment: the run was not triggered from an issue or PR');
    else
        await attempt(n, `status comment on #${issue}`, async () => {
            const comment = await client.createComment(issue, n.body);
            n.outputs['status-comment-id'] = String(comment.id);
            n.outputs['status-comment-url'] = comment.html_url;
        });
}
/** The open issue an earlier attempt of this run opened; a failed lookup only warns. */
async function earlierIncidentIssue(n, client, labels) {
    try {
        const marker = incidentMarker(n.deps.run);
        return await client.findOpenIssue(labels, i => i.body?.includes(marker) ?? false);
    }
    catch (err) {
        n.problems.push(`looking for an incident issue of an earlier attempt: ${err instanceof Error ? err.message : String(err)} (a new one is opened)`);
        return undefined;
    }
}
async function incidentIssue(n) {
    const config = n.action.config['incident-issue'];
    const { closing, client } = n;
    if (!closing || !config)
        return;
    if (n.deps.run.mode === 'drill')
        return void n.skipped.push('incident issue: not created in a drill');
    if (!client)
        return void n.skipped.push(`incident issue: ${n.deps.github.unavailable()}`);
    const run = n.deps.run;
    await attempt(n, 'incident issue created', async () => {
        const report = `${header(run, closing.headline)}\n${n.summary || '(no report)'}`;
        const title = n.clean(`Incident: ${run.runbookName} rollback ${closing.failed ? 'FAILED' : 'complete'} (${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC)`);
        const open = await earlierIncidentIssue(n, client, config.labels);
        if (open) {
            // A re-run of the same workflow run: report there, with the title of the new outcome.
            await client.updateIssue(open.number, { title });
            await client.createComment(open.number, fit(n.clean(report)));
        }
        const issue = open ??
            (await client.createIssue({
                title,
                body: fit(n.clean(`${incidentMarker(run)}\n${report}\n\n## Post-rollback analysis\n- [ ] Incident report: what went wrong\n- [ ] Data analysis: lost or corrupted data\n- [ ] User impact assessment\n- [ ] Cost analysis\n`)),
                labels: config.labels
            }));
        n.outputs['incident-issue'] = issue.html_url;
        n.outputs['incident-issue-number'] = String(issue.number);
        if (open)
            return `incident issue #${open.number} (opened by an earlier attempt) updated`;
    });
}
async function postWebhook(deps, url, text) {
    // Retried on 429/5xx after Retry-After (real time); the URL (a secret) stays out of messages.
    await postJson(url, { text }, { fetch: deps.fetch, timeoutMs: 15_000 });
}
async function webhook(n, url) {
    if (!url)
        return;
    if (n.deps.run.mode === 'drill')
        return void n.skipped.push('webhook: not posted in a drill (variable is set)');
    const { run } = n.deps;
    const said = n.closing ? n.closing.text : n.action.config.messages.initiated;
    const incident = n.outputs['incident-issue'];
    const text = n.clean(`${tag(run, n.action)}${said}: ${run.runbookName} (severity ${run.request.severity})${run.runUrl ? ` ${run.runUrl}` : ''}${incident ? ` incident: ${incident}` : ''}`);
    await attempt(n, 'webhook posted', () => postWebhook(n.deps, url, text));
}

;// CONCATENATED MODULE: ./src/phases/notify/index.ts
/**
 * notify phase: a `before` step ("initiated": status comment on the triggering issue/PR, webhook)
 * and a `finally` step (the same comment updated to complete/failed with the report, the incident
 * issue, or a comment on it when a re-run of the same workflow run finds it open, webhook).
 * What cannot be done for lack of a GitHub target/token is skipped and said so;
 * a failed notification only warns: it never stops a rollback. Every body is redacted.
 * A drill posts only the status comment (marked as a drill); no incident issue, no webhook.
 */




/** The webhook URL from the variable the runbook names; refused when unset or not http(s). */
function webhookUrl(deps) {
    const { variable: name, url } = deps.webhook;
    if (!name)
        return undefined;
    if (!url)
        throw new model/* RollbackError */.Z(`notify.webhook-env names ${name}, but ${name} is not set`, `Pass the webhook URL secret to the step as env ${name}, or remove notify.webhook-env from the runbook.`);
    if (!/^https?:\/\/\S+$/.test(url))
        throw new model/* RollbackError */.Z(`${name} does not hold an http(s) URL`, `Set ${name} to the webhook URL (e.g. a Slack incoming webhook).`);
    return url;
}
function begin(step, deps) {
    const { action } = step;
    const clean = (text) => deps.redactor.redact(text);
    const closing = action.kind === 'closing' ? closingMessage(action, deps.run, deps.progress.failed) : undefined;
    const headline = closing
        ? closing.headline
        : `🚨 ${tag(deps.run, action)}${action.config.messages.initiated}`;
    const summary = closing ? deps.progress.summary() : '';
    return {
        action,
        deps,
        client: deps.github.client(),
        closing,
        body: fit(clean(`${header(deps.run, headline)}${summary ? `\n${summary}\n` : ''}`)),
        summary,
        clean,
        done: [],
        skipped: [],
        problems: [],
        outputs: {}
    };
}
async function notify(step, deps) {
    const url = webhookUrl(deps);
    const n = begin(step, deps);
    // In this order: the webhook names the incident issue opened just before.
    await statusComment(n);
    await incidentIssue(n);
    await webhook(n, url);
    const { done, skipped, problems, outputs } = n;
    const details = { done, skipped, ...(problems.length ? { problems } : {}) };
    for (const s of skipped)
        deps.log.info(`notify: skipped ${s}`);
    if (problems.length > 0)
        return {
            status: 'warned',
            changed: done,
            outputs,
            details,
            error: {
                message: `notification failed (the rollback itself is unaffected): ${problems.join('; ')}`,
                hint: 'Tell people by hand; check the github-token permissions (issues: write) and the webhook.'
            }
        };
    return { status: done.length === 0 ? 'skipped' : 'succeeded', changed: done, outputs, details };
}
const notifyPhase = {
    phase: 'notify',
    needs: ['github', 'webhook', 'fetch', 'redactor', 'log', 'run', 'progress'],
    plan(runbook, request) {
        const severity = request.severity;
        const investigateOnly = !(runbook.severity[severity]?.mutate ?? constants/* DEFAULT_SEVERITY_MATRIX */.gt[severity].mutate);
        const config = runbook.notify;
        if (config === undefined)
            return [];
        const channels = [
            config['status-comment'] ? 'status comment' : undefined,
            config['webhook-env'] ? `webhook (${config['webhook-env']})` : undefined
        ].filter(Boolean);
        const closingChannels = [
            ...channels,
            config['incident-issue']
                ? `incident issue [${config['incident-issue'].labels.join(', ')}]`
                : undefined
        ].filter(Boolean);
        return [
            {
                id: 'notify:initiated',
                phase: 'notify',
                title: `Announce "${config.messages.initiated}" (${channels.join(', ') || 'no channel'})`,
                changes: [],
                mutates: false,
                stage: 'before',
                action: { kind: 'initiated', config, investigateOnly }
            },
            {
                id: 'notify:closing',
                phase: 'notify',
                title: `Report "${config.messages.complete}" or "${config.messages.failed}" (${closingChannels.join(', ') || 'no channel'})`,
                changes: [],
                mutates: false,
                stage: 'finally',
                action: { kind: 'closing', config, investigateOnly }
            }
        ];
    },
    async preflight(steps, deps) {
        const notes = [];
        webhookUrl(deps);
        for (const step of steps) {
            const { config } = step.action;
            if (!deps.github.client() && (config['status-comment'] || config['incident-issue']))
                notes.push({
                    stepId: step.id,
                    details: { willSkip: `GitHub comment/issue: ${deps.github.unavailable()}` }
                });
        }
        return { notes };
    },
    run: notify,
    drill: notify
};

;// CONCATENATED MODULE: ./src/phases/schema.ts







function schemaSpec(entry, runId) {
    return {
        table: entry.table,
        key: entry.key,
        dropColumns: entry['drop-columns'],
        dropIndexes: entry['drop-indexes'],
        backupTable: entry['backup-table'] ?? backupTableName(entry.table, runId, '_columns')
    };
}
const schemaPhase = {
    phase: 'schema',
    needs: ['database', 'log', 'clock', 'run'],
    preflightShares: 'database',
    plan(runbook, request) {
        return (runbook.schema ?? []).map((entry, index) => {
            const spec = schemaSpec(entry, request.runId);
            const changes = [];
            for (const i of spec.dropIndexes) {
                changes.push(`DROP INDEX CONCURRENTLY IF EXISTS ${i} — SHARE UPDATE EXCLUSIVE on ${spec.table}; alone, outside any transaction; lock_timeout ladder`);
            }
            if (spec.dropColumns.length > 0) {
                changes.push(`copy ${spec.key}, ${spec.dropColumns.join(', ')} of ${spec.table} to ${spec.backupTable} — ACCESS SHARE (reads and writes continue); writes made meanwhile are captured into it by a trigger (SHARE ROW EXCLUSIVE for a moment, lock_timeout ladder), dropped with the columns`, `${alterStatement(spec)} — ACCESS EXCLUSIVE on ${spec.table} for milliseconds (catalog-only), taken with LOCK TABLE under the lock_timeout ladder; rows inserted since the copy are added to the backup under that lock`);
            }
            return {
                id: `schema:${index + 1}-${slug(entry.table)}`,
                phase: 'schema',
                title: `drop ${[...spec.dropColumns, ...spec.dropIndexes].join(', ')} from ${entry.table} (data kept in ${spec.backupTable})`,
                changes,
                mutates: true,
                stage: 'main',
                action: { index, field: `schema[${index}]`, entry }
            };
        });
    },
    async preflight(steps, deps) {
        const session = await preflightSession(deps.database.settings, {
            planning: deps.run.request.command === 'plan',
            log: deps.log,
            phase: 'schema'
        });
        if (!session)
            return {};
        const { client, settings } = session;
        const notes = [];
        try {
            await checkRunLockFree(client);
            for (const step of steps)
                notes.push(await check(client, step, deps, settings));
        }
        finally {
            await client.end().catch(() => { });
        }
        return { notes };
    },
    run(step, deps) {
        return schema_execute(step, deps, false);
    },
    drill(step, deps) {
        return schema_execute(step, deps, true);
    }
};
async function check(client, step, deps, settings) {
    const { field, entry } = step.action;
    const spec = schemaSpec(entry, deps.run.request.runId);
    const inspection = await inspectSchema(client, spec);
    if (!inspection.tableExists) {
        throw new model/* RollbackError */.Z(`${field}.table: ${spec.table} does not exist`, `fix ${field}.table`);
    }
    if (inspection.present.length > 0 && !inspection.keyExists) {
        throw new model/* RollbackError */.Z(`${field}.key: ${spec.table} has no column ${spec.key}`, `fix ${field}.key`);
    }
    for (const info of [...inspection.indexes, ...inspection.dependentIndexes]) {
        if (info.constraints.length > 0)
            throw constraintError(info, `${field}.drop-indexes`);
    }
    if (inspection.backupExists && inspection.present.length > 0) {
        const missing = [spec.key, ...inspection.present.map(c => c.name)].filter(c => !inspection.backupColumns.includes(c));
        if (missing.length > 0) {
            throw new model/* RollbackError */.Z(`${field}.backup-table: ${spec.backupTable} already exists without column(s) ${missing.join(', ')}`, `set ${field}.backup-table to a new name`);
        }
    }
    const changes = [];
    for (const info of inspection.indexes) {
        changes.push(`DROP INDEX CONCURRENTLY IF EXISTS ${info.schema}.${info.name}${info.valid ? '' : ' (INVALID leftover)'} — SHARE UPDATE EXCLUSIVE; ${ladderText(settings)}`);
    }
    for (const info of inspection.dependentIndexes) {
        changes.push(`DROP INDEX CONCURRENTLY IF EXISTS ${info.schema}.${info.name} (uses a dropped column; recreate statement kept in the report)`);
    }
    if (inspection.present.length > 0) {
        changes.push(`copy ${spec.key}, ${inspection.present.map(c => c.name).join(', ')} of ${spec.table} (~${inspection.rows} rows) to ${spec.backupTable}${inspection.backupExists ? ' (exists: refreshed by key)' : ''} — ACCESS SHARE; writes made meanwhile captured by a trigger, dropped with the columns`, `${alterStatement({ ...spec, dropColumns: inspection.present.map(c => c.name) })} — ACCESS EXCLUSIVE briefly; ${ladderText(settings)}`);
    }
    if (inspection.gone.length > 0)
        changes.push(`already gone: ${inspection.gone.join(', ')}`);
    if (changes.length === 0)
        changes.push('nothing to do: columns and indexes already gone');
    return {
        stepId: step.id,
        changes,
        details: {
            columns: inspection.present,
            alreadyGone: inspection.gone,
            estimatedRows: inspection.rows
        }
    };
}
async function schema_execute(step, deps, drill) {
    const { field, entry } = step.action;
    let settings;
    try {
        settings = deps.database.settings();
        const s = settings;
        const spec = schemaSpec(entry, deps.run.request.runId);
        const ladder = ladderOptions(deps.clock.sleep, deps.log, s);
        return await withRunLock(s, 'schema', () => withClient(s, 'schema', async (client) => {
            if (drill) {
                const res = await drillSchemaRollback(client, spec, field, ladder);
                return {
                    status: 'succeeded',
                    changed: [],
                    details: {
                        drill: 'copy, lock and ALTER TABLE ran in a transaction that was rolled back',
                        ...res
                    }
                };
            }
            const res = await runSchemaRollback(client, spec, field, ladder);
            const changed = [];
            if (res.droppedIndexes.length > 0)
                changed.push(`dropped index ${res.droppedIndexes.join(', ')}`);
            if (res.droppedColumns.length > 0) {
                changed.push(`copied ${res.copiedRows + res.newRowsUnderLock} rows of ${spec.table} (${spec.key}, ${res.droppedColumns.join(', ')}) to ${spec.backupTable}`, `dropped column(s) ${res.droppedColumns.join(', ')} of ${spec.table}`);
            }
            const recovery = res.restore.length > 0
                ? [
                    `${spec.table}: dropped data is in ${spec.backupTable}. Restore with:\n${res.restore.join('\n')}`
                ]
                : undefined;
            return {
                status: 'succeeded',
                changed,
                recovery,
                details: { ...res, backupTable: spec.backupTable }
            };
        }));
    }
    catch (err) {
        return failedResult(err, field, settings);
    }
}

;// CONCATENATED MODULE: ./src/phases/index.ts









// Each module narrows its own action type; the registry erases it (the engine passes steps back
// only to the module that planned them).
const PHASE_MODULES = {
    flags: flagsPhase,
    verify: verifyPhase,
    database: databasePhase,
    git: gitPhase,
    schema: schemaPhase,
    integrity: integrityPhase,
    files: filesPhase,
    monitor: monitorPhase,
    notify: notifyPhase
};

;// CONCATENATED MODULE: ./src/github/client.ts
/**
 * What notify, the GitHub-variables provider and ChatOps ask of GitHub, on Octokit
 * (src/github/octokit.ts: retries, rate limits, proxy). `@actions/github` loads on the first
 * call only, so a run that needs no GitHub call does not pay for it. Errors become
 * GitHubApiErrors with the fix (permissions, token, network).
 */

class GitHubApiError extends util_errors/* RollbackError */.Z {
    status;
    constructor(message, hint, status) {
        super(message, hint);
        this.status = status;
        this.name = 'GitHubApiError';
    }
}
/** Issue pages read while looking for one issue: GitHub lists 100 a page. */
const MAX_ISSUE_PAGES = 50;
/** A POST that failed may still have created the comment or issue: never repeat it on a 5xx. */
const ONCE = { request: { retries: 0 } };
class GitHubClient {
    options;
    loaded;
    constructor(options) {
        this.options = options;
    }
    octokit() {
        this.loaded ??= Promise.all(/* import() */[__nccwpck_require__.e(752), __nccwpck_require__.e(239), __nccwpck_require__.e(702)]).then(__nccwpck_require__.bind(__nccwpck_require__, 6702)).then(m => m.createOctokit(this.options));
        return this.loaded;
    }
    get repoArgs() {
        return { owner: this.options.owner, repo: this.options.repo };
    }
    async call(what, fn) {
        const octokit = await this.octokit();
        try {
            return (await fn(octokit)).data;
        }
        catch (err) {
            throw toApiError(what, err);
        }
    }
    /** Any REST call, `path` relative to the API root (with its query string). */
    request(method, path, body) {
        return this.call(`${method} ${path}`, o => o.request(`${method} ${path}`, {
            ...(body !== undefined ? { data: body } : {}),
            ...(method === 'POST' ? ONCE : {})
        }));
    }
    createComment(issueNumber, body) {
        return this.call(`POST issues/${issueNumber}/comments`, o => o.rest.issues.createComment({ ...this.repoArgs, issue_number: issueNumber, body, ...ONCE }));
    }
    updateComment(commentId, body) {
        return this.call(`PATCH issues/comments/${commentId}`, o => o.rest.issues.updateComment({ ...this.repoArgs, comment_id: commentId, body }));
    }
    createIssue(issue) {
        return this.call('POST issues', o => o.rest.issues.create({ ...this.repoArgs, ...issue, ...ONCE }));
    }
    updateIssue(issueNumber, fields) {
        return this.call(`PATCH issues/${issueNumber}`, o => o.rest.issues.update({ ...this.repoArgs, issue_number: issueNumber, ...fields }));
    }
    /**
     * The first open issue (newest first) carrying every one of `labels` that `match` accepts,
     * pull requests left out. Reads page after page until found, at most MAX_ISSUE_PAGES.
     */
    async findOpenIssue(labels, match) {
        const what = 'GET issues';
        const octokit = await this.octokit();
        const pages = octokit.paginate.iterator(octokit.rest.issues.listForRepo, {
            ...this.repoArgs,
            state: 'open',
            per_page: 100,
            ...(labels.length > 0 ? { labels: labels.join(',') } : {})
        });
        let read = 0;
        try {
            for await (const page of pages) {
                const found = page.data.find(i => i.pull_request === undefined && match(i));
                if (found)
                    return found;
                if (++read >= MAX_ISSUE_PAGES)
                    throw tooManyIssues(labels);
            }
        }
        catch (err) {
            throw toApiError(what, err);
        }
        return undefined;
    }
    /** Every open issue carrying every one of `labels` (at most MAX_ISSUE_PAGES pages). */
    async openIssuesLabelled(labels) {
        const all = [];
        await this.findOpenIssue(labels, issue => {
            all.push(issue);
            return false;
        });
        return all;
    }
    async addReaction(commentId, content) {
        await this.call(`POST issues/comments/${commentId}/reactions`, o => o.rest.reactions.createForIssueComment({
            ...this.repoArgs,
            comment_id: commentId,
            content,
            ...ONCE
        }));
    }
    async getPermission(user) {
        const answer = await this.call(`GET collaborators/${user}/permission`, o => o.rest.repos.getCollaboratorPermissionLevel({ ...this.repoArgs, username: user }));
        return { permission: answer.permission, user: answer.user?.login ?? user };
    }
    /** The commenter's repository role; undefined when not a collaborator (404). */
    async collaboratorPermission(user) {
        const answer = await this.orUndefined(this.call(`GET collaborators/${user}/permission`, o => o.rest.repos.getCollaboratorPermissionLevel({ ...this.repoArgs, username: user })));
        return answer && { permission: answer.permission, roleName: answer.role_name };
    }
    /** Active member of org/team (a pending invitation does not count). */
    async isTeamMember(org, team, user) {
        const answer = await this.orUndefined(this.call(`GET orgs/${org}/teams/${team}/memberships/${user}`, o => o.rest.teams.getMembershipForUserInOrg({ org, team_slug: team, username: user })));
        return answer?.state === 'active';
    }
    /** The full SHA of a commit of the repository; undefined when there is none. */
    async commitSha(ref) {
        const answer = await this.orUndefined(this.call(`GET commits/${ref}`, o => o.rest.repos.getCommit({ ...this.repoArgs, ref })));
        return answer?.sha;
    }
    /** 404 (and 422, GitHub's answer to an unknown commit) mean "there is none". */
    async orUndefined(call) {
        try {
            return await call;
        }
        catch (err) {
            if (err instanceof GitHubApiError && (err.status === 404 || err.status === 422))
                return undefined;
            throw err;
        }
    }
    /** undefined when the variable does not exist. */
    async getVariable(name) {
        try {
            const v = await this.call(`GET actions/variables/${name}`, o => o.rest.actions.getRepoVariable({ ...this.repoArgs, name }));
            return { name: v.name, value: v.value, updated_at: v.updated_at };
        }
        catch (err) {
            if (err instanceof GitHubApiError && err.status === 404)
                return undefined;
            throw err;
        }
    }
    async updateVariable(name, value) {
        await this.call(`PATCH actions/variables/${name}`, o => o.rest.actions.updateRepoVariable({ ...this.repoArgs, name, value }));
    }
}
function tooManyIssues(labels) {
    return new GitHubApiError(`more than ${MAX_ISSUE_PAGES * 100} open issues are labelled ${labels.join(', ') || '(any)'}`, 'Close the incident issues that are done, or give the runbook a more specific incident-issue label.', 0);
}
function toApiError(what, err) {
    if (err instanceof GitHubApiError)
        return err;
    const e = err;
    if (typeof e?.status !== 'number')
        return err;
    if (!e.response) {
        // No answer at all: the request never reached GitHub (network, proxy, timeout).
        return new GitHubApiError(`GitHub API ${what} could not be reached (${e.message ?? 'no answer'})`, 'Check the network from the runner, GITHUB_API_URL, and the proxy variables (HTTPS_PROXY, NO_PROXY).', 0);
    }
    const data = e.response.data;
    const message = (typeof data === 'object' ? data?.message : data?.slice(0, 200)) || e.message || 'no message';
    return mapError(what, e.status, message, data, e.response.headers ?? {});
}
function isRateLimit(status, message, headers) {
    return ((status === 403 || status === 429) &&
        (/rate limit/i.test(message) || headers['x-ratelimit-remaining'] === '0'));
}
function mapError(what, status, message, json, headers) {
    const detail = `${status} ${message}`;
    if (status === 401)
        return new GitHubApiError(`GitHub rejected the token (${detail})`, 'Pass a valid token as the github-token input (the workflow GITHUB_TOKEN works for comments and issues).', status);
    if (isRateLimit(status, message, headers))
        return new GitHubApiError(`GitHub rate-limited ${what} longer than this run waits (${detail})`, 'Retry the step later; a token of its own (an App installation) has a higher limit than GITHUB_TOKEN.', status);
    if (status === 403 && /not accessible by integration/i.test(message))
        return new GitHubApiError(`GitHub refused ${what}: the token lacks a permission (${detail})`, /variables/.test(what)
            ? 'GITHUB_TOKEN cannot write Actions variables: use a fine-grained token or App with "Variables: write".'
            : 'Add `permissions: { issues: write, pull-requests: write }` to the workflow job.', status);
    if (status === 404)
        return new GitHubApiError(`GitHub ${what}: not found (${detail})`, 'Check the repository, issue number or name; a token without access also gets 404.', status);
    if (status === 422) {
        const errors = json
            ?.errors;
        const list = errors?.map(e => `${e.field ?? '?'} ${e.code ?? ''}`.trim()).join(', ');
        return new GitHubApiError(`GitHub rejected ${what} (${detail}${list ? `: ${list}` : ''})`, undefined, status);
    }
    return new GitHubApiError(`GitHub API ${what} failed (${detail})`, undefined, status);
}

// EXTERNAL MODULE: ./src/github/proxy.ts
var proxy = __nccwpck_require__(8231);
;// CONCATENATED MODULE: ./src/providers/github-variables.ts
/**
 * Hosting through GitHub itself: the flags are repository Actions variables and a deploy is a
 * dispatch of the deploy workflow, watched until its run completes. Changing a variable deploys
 * nothing by itself, and GITHUB_TOKEN cannot write variables (a fine-grained token or App with
 * "Variables: write" is needed): the errors say so. Speaks to the REST API through src/http
 * (not src/github, which serves notify and ChatOps); the variable list is read once per instance.
 */



/** How long a dispatched run may take to appear in the runs list. */
const DISPATCH_APPEAR_MS = 30_000;
class GitHubVariablesProvider {
    options;
    description;
    http;
    clock;
    variables;
    constructor(options) {
        this.options = options;
        this.clock = options.clock ?? systemClock;
        this.description = `GitHub repository ${options.project} (Actions variables, workflow ${options.workflow} on ${options.ref})`;
        this.http = new HttpClient({
            service: 'GitHub',
            baseUrl: options.apiUrl,
            headers: {
                authorization: `Bearer ${options.token}`,
                accept: 'application/vnd.github+json',
                'x-github-api-version': '2022-11-28'
            },
            fetch: options.fetch,
            clock: this.clock,
            errorShape: githubErrorShape,
            mapError: e => this.mapError(e),
            log: options.log
        });
    }
    mapError(error) {
        const detail = `${error.status} ${error.api.message ?? 'no message'}`;
        const source = this.options.tokenSource ?? 'the hosting-token input';
        if (error.status === 401)
            return new util_errors/* RollbackError */.Z(`GitHub rejected the token (${detail})`, `Put a valid fine-grained token with "Variables: write" and "Actions: write" in ${source}.`);
        if (error.status === 403 && /not accessible by integration/i.test(error.api.message ?? ''))
            return new util_errors/* RollbackError */.Z(`GitHub refused ${error.what}: the token lacks a permission (${detail})`, /variables/.test(error.what)
                ? 'GITHUB_TOKEN cannot write Actions variables: use a fine-grained token or App with "Variables: write".'
                : `The token in ${source} needs "Actions: write" to dispatch the deploy workflow.`);
        if (error.status === 404)
            return new util_errors/* RollbackError */.Z(`GitHub ${error.what}: not found (${detail})`, 'Check hosting.project (owner/repo) and hosting.workflow; a token without access also gets 404.');
        return undefined;
    }
    path(suffix) {
        return `/repos/${this.options.project}${suffix}`;
    }
    workflowPath(suffix) {
        return this.path(`/actions/workflows/${encodeURIComponent(this.options.workflow)}${suffix}`);
    }
    /** The first page of the workflow's runs (newest first): enough to find a new or pending one. */
    async runs(query) {
        const body = await this.http.json('GET', this.workflowPath('/runs'), {
            query
        });
        return body.workflow_runs ?? [];
    }
    toDeployment(run) {
        const completed = run.status === 'completed';
        const ok = completed && run.conclusion === 'success';
        return {
            id: String(run.id),
            url: run.html_url.replace(/^https?:\/\//, ''),
            state: ok ? 'READY' : completed ? 'ERROR' : run.status === 'queued' ? 'QUEUED' : 'BUILDING',
            aliasAssigned: ok,
            errorMessage: completed && !ok ? `workflow run ${run.conclusion ?? 'failed'}` : undefined,
            createdAt: Date.parse(run.created_at),
            buildingAt: run.run_started_at ? Date.parse(run.run_started_at) : undefined,
            target: 'production'
        };
    }
    async checkAccess() {
        await Promise.all([this.http.request('GET', this.path('')), this.runs({ per_page: '1' })]);
    }
    /** Every repository variable, all pages; read once (again after this instance wrote). */
    listVariables() {
        this.variables ??= readLinkedPages(this.http, this.path('/actions/variables'), body => body.variables ?? [], { what: `the Actions variables of ${this.options.project}`, query: { per_page: '30' } });
        this.variables.catch(() => (this.variables = undefined));
        return this.variables;
    }
    async readEnv(keys) {
        return (await this.listVariables())
            .filter(v => keys.includes(v.name))
            .map(v => ({
            id: v.name,
            key: v.name,
            value: v.value,
            type: 'plain',
            targets: ['production'],
            updatedAt: v.updated_at ? Date.parse(v.updated_at) : undefined
        }));
    }
    async setEnv(values, targets) {
        if (targets.length !== 1 || targets[0] !== 'production')
            throw new util_errors/* RollbackError */.Z('repository Actions variables have no per-environment targets', 'Set flags.targets: [production] for provider github-variables.');
        const current = await this.readEnv(Object.keys(values));
        this.variables = undefined;
        const changes = [];
        for (const [key, value] of Object.entries(values)) {
            const old = current.find(e => e.key === key);
            if (old)
                await this.http.request('PATCH', this.path(`/actions/variables/${encodeURIComponent(key)}`), {
                    json: { name: key, value },
                    // Setting the same value again is harmless.
                    retry: 'any-failure'
                });
            else
                await this.http.request('POST', this.path('/actions/variables'), {
                    json: { name: key, value },
                    // A repeat after a lost answer gets 409; only a refused request is repeated.
                    retry: 'rejected'
                });
            changes.push({
                key,
                targets,
                value,
                old: old && { value: old.value, type: 'plain', readable: true }
            });
        }
        return changes;
    }
    async currentProductionDeployment() {
        const [run] = await this.runs({ branch: this.options.ref, status: 'success', per_page: '1' });
        return run ? this.toDeployment(run) : undefined;
    }
    /** Every run created since `since` (all pages: a busy branch may have more than one page). */
    async pendingProductionDeployments(since) {
        const runs = await readLinkedPages(this.http, this.workflowPath('/runs'), body => body.workflow_runs ?? [], {
            what: `the runs of ${this.options.workflow} since ${new Date(since).toISOString()}`,
            query: {
                branch: this.options.ref,
                created: `>=${new Date(since).toISOString()}`,
                per_page: '100'
            },
            maxPages: 10
        });
        return runs
            .filter(r => r.status !== 'completed' && Date.parse(r.created_at) > since)
            .map(r => this.toDeployment(r));
    }
    /** Dispatches the deploy workflow (GitHub answers 204 without the run) and finds its run. */
    async redeploy(_from, _meta) {
        const query = { event: 'workflow_dispatch', branch: this.options.ref, per_page: '20' };
        const known = new Set((await this.runs(query)).map(r => r.id));
        await this.http.request('POST', this.workflowPath('/dispatches'), {
            json: { ref: this.options.ref },
            retry: 'rejected'
        });
        return poll({
            clock: this.clock,
            timeoutMs: DISPATCH_APPEAR_MS,
            schedule: [{ everyMs: 2_000 }],
            check: async () => {
                const run = (await this.runs(query)).find(r => !known.has(r.id));
                return run
                    ? { done: true, value: this.toDeployment(run) }
                    : { done: false, state: 'not listed' };
            },
            timeoutError: () => new util_errors/* RollbackError */.Z(`dispatched ${this.options.workflow} on ${this.options.ref}, but no new run appeared within ${(0,duration/* formatDuration */.a3)(DISPATCH_APPEAR_MS)}`, 'Check the workflow has a `workflow_dispatch` trigger and that Actions is enabled.')
        });
    }
    async waitForDeployment(id, options) {
        let url = '';
        let last = '';
        return poll({
            clock: this.clock,
            timeoutMs: options.timeoutMs,
            check: async () => {
                const run = await this.http.json('GET', this.path(`/actions/runs/${id}`));
                url = run.html_url;
                const d = this.toDeployment(run);
                if (d.state !== last)
                    options.onProgress?.(d);
                last = d.state;
                if (d.state === 'ERROR')
                    throw new util_errors/* RollbackError */.Z(`deploy workflow run ${id} ended ${run.conclusion ?? 'without success'} (${run.html_url})`, 'Production still runs the previous deploy. Read the run log, fix it and rerun: the variables are already set.');
                return d.state === 'READY' ? { done: true, value: d } : { done: false, state: run.status };
            },
            timeoutError: (last, timeoutMs) => new util_errors/* RollbackError */.Z(`deploy workflow run ${id} not finished after ${(0,duration/* formatDuration */.a3)(timeoutMs)} (${last})`, `Watch it at ${url}, or raise flags.wait-timeout and rerun.`)
        });
    }
    async autoAssignsProduction() {
        return true;
    }
    promote() {
        return Promise.reject(new util_errors/* RollbackError */.Z('github-variables has no promote: a deploy is a run'));
    }
}

;// CONCATENATED MODULE: ./src/providers/vercel.ts
/**
 * Vercel REST client behind the HostingProvider interface, on the shared HTTP layer (src/http):
 * every call carries the team scope; 429/503 wait for Retry-After exactly (plus jitter), other 5xx
 * back off; lists are read to the end (pagination.next) or refused. One instance serves one run:
 * the project and the env list are read once (and again only after this instance changed them),
 * and only the variables the runbook names are decrypted.
 */




const VERCEL_API_URL = 'https://api.vercel.com';
/** Decrypting reads, at most this many at once. */
const DECRYPT_CONCURRENCY = 4;
const CONFLICT_HINT = 'Make flags.targets equal to the targets of the existing variable, or split it in the Vercel dashboard first.';
function toTargets(target) {
    const list = Array.isArray(target) ? target : typeof target === 'string' ? [target] : [];
    return list.filter((t) => ['production', 'preview', 'development'].includes(t));
}
/** `fn` over `items`, `limit` at a time, results in order. */
async function mapLimited(items, limit, fn) {
    const results = [];
    for (let i = 0; i < items.length; i += limit)
        results.push(...(await Promise.all(items.slice(i, i + limit).map(fn))));
    return results;
}
/** The variable a `failed[]` entry of a 201 names: `key` or `envVarKey`, on the entry or its error. */
function failedKey(entry) {
    const e = (entry ?? {});
    const error = (e.error ?? {});
    const key = [error.key, error.envVarKey, e.key, e.envVarKey].find(k => typeof k === 'string');
    return key ?? '(variable not named by Vercel)';
}
class VercelProvider {
    options;
    description;
    http;
    clock;
    projectRead;
    envList;
    decrypted = new Map();
    constructor(options) {
        this.options = options;
        this.clock = options.clock;
        this.description = `vercel project ${options.project}${options.teamId ? ` (team ${options.teamId})` : ''}`;
        this.http = new HttpClient({
            service: 'Vercel',
            baseUrl: options.apiUrl ?? VERCEL_API_URL,
            headers: { authorization: `Bearer ${options.token}` },
            query: { teamId: options.teamId },
            fetch: options.fetch,
            clock: options.clock,
            timeoutMs: 60_000,
            // Vercel's own client: other 5xx after 5 s, five tries in all.
            retry: { maxTries: 5, baseDelayMs: 5_000, maxBackoffMs: 30_000, jitterMs: 1_000 },
            errorShape: vercelErrorShape,
            mapError: e => this.mapError(e),
            log: options.log
        });
    }
    mapError(error) {
        const { status, api } = error;
        const detail = `${status} ${api.code ?? 'error'}: ${api.message ?? 'no message'}`;
        const scope = this.options.teamId ? `team ${this.options.teamId}` : 'the project owner';
        if (status === 401 ||
            (status === 403 && (api.details.invalidToken || api.details.missingToken)))
            return new util_errors/* RollbackError */.Z(`Vercel rejected the token (${detail})`, `Put a valid Vercel access token in ${this.options.tokenSource} (Account Settings > Tokens), scoped to ${scope}.`);
        if (status === 403)
            return new util_errors/* RollbackError */.Z(`Vercel refused ${error.what} (${detail})`, `The token in ${this.options.tokenSource} has no access to ${this.options.teamId ? `team ${this.options.teamId}` : 'this scope'}: create the token in that team, or fix hosting.team.`);
        if (status === 404 && /project/i.test(api.message ?? ''))
            return new util_errors/* RollbackError */.Z(`Vercel project \`${this.options.project}\` not found (${detail})`, this.options.teamId
                ? `Check hosting.project (id or name) and that it belongs to team ${this.options.teamId}.`
                : 'Check hosting.project; if the project belongs to a team, set hosting.team to the team id (team_...).');
        if (api.code === 'ENV_CONFLICT')
            return new util_errors/* RollbackError */.Z(`Vercel would not upsert \`${failedKey({ error: api.details })}\`: it exists with a different set of targets (${detail})`, CONFLICT_HINT);
        return undefined;
    }
    projectPath(suffix = '') {
        return `/projects/${encodeURIComponent(this.options.project)}${suffix}`;
    }
    /** The project, read once (again only after a promote changed it). */
    project() {
        this.projectRead ??= this.http
            .json('GET', `/v9${this.projectPath()}`)
            .then(body => ({
            id: body.id,
            name: body.name,
            productionId: body.targets?.production?.id,
            autoAssign: body.autoAssignCustomDomains !== false
        }));
        // A failed read is not cached: the next caller asks again.
        this.projectRead.catch(() => (this.projectRead = undefined));
        return this.projectRead;
    }
    async checkAccess() {
        await this.project();
    }
    async autoAssignsProduction() {
        return (await this.project()).autoAssign;
    }
    async promote(id) {
        const project = await this.project();
        // Promoting the same deployment twice is harmless: any failure may be retried.
        await this.http.request('POST', `/v10/projects/${encodeURIComponent(project.id)}/promote/${encodeURIComponent(id)}`, { retry: 'any-failure' });
        this.projectRead = undefined;
    }
    /** Every entry of the env list, all pages, without values decrypted; read once. */
    listEnv() {
        this.envList ??= readVercelPages(this.http, `/v10${this.projectPath('/env')}`, 'envs', {
            what: `the env list of ${this.description}`
        });
        this.envList.catch(() => (this.envList = undefined));
        return this.envList;
    }
    /** The decrypted value of one encrypted variable (sensitive ones never come back). */
    decrypt(id) {
        let value = this.decrypted.get(id);
        if (!value) {
            value = this.http
                .json('GET', `/v1${this.projectPath(`/env/${encodeURIComponent(id)}`)}`)
                .then(one => (typeof one.value === 'string' ? one.value : undefined));
            this.decrypted.set(id, value);
            value.catch(() => this.decrypted.delete(id));
        }
        return value;
    }
    /**
     * The named variables (branch-specific entries aside). The list is read without decrypting, so
     * no other variable's value is fetched; the named encrypted ones are then decrypted concurrently.
     */
    async readEnv(keys) {
        const wanted = (await this.listEnv()).filter(e => keys.includes(String(e.key)) && !e.gitBranch);
        return mapLimited(wanted, DECRYPT_CONCURRENCY, async (e) => ({
            id: String(e.id),
            key: String(e.key),
            value: e.type === 'encrypted'
                ? await this.decrypt(String(e.id))
                : e.type === 'plain' && typeof e.value === 'string'
                    ? e.value
                    : undefined,
            type: String(e.type),
            targets: toTargets(e.target),
            updatedAt: typeof e.updatedAt === 'number' ? e.updatedAt : undefined
        }));
    }
    async setEnv(values, targets) {
        const keys = Object.keys(values);
        const current = await this.readEnv(keys);
        const changes = keys.map(key => {
            const old = current.find(e => e.key === key && sameTargets(e.targets, targets));
            return {
                key,
                targets,
                value: values[key],
                old: old && { value: old.value, type: old.type, readable: old.value !== undefined }
            };
        });
        const payload = changes.map(c => ({
            key: c.key,
            value: c.value,
            // Keep the variable's type; new ones are encrypted (Vercel's default).
            type: c.old && c.old.type !== 'system' ? c.old.type : 'encrypted',
            target: targets
        }));
        // What we read is stale from here on, whatever the answer.
        this.envList = undefined;
        this.decrypted.clear();
        const body = await this.http.json('POST', `/v10${this.projectPath('/env')}`, 
        // An upsert of the same values is idempotent: safe to repeat after any failure.
        { query: { upsert: 'true' }, json: payload, retry: 'any-failure' });
        const failed = body.failed ?? [];
        if (failed.length > 0)
            throw this.savedPartly(failed);
        return changes;
    }
    savedPartly(failed) {
        const errors = failed.map(f => (f ?? {}).error ?? {});
        const list = failed
            .map((f, i) => `${failedKey(f)} (${errors[i].code ?? 'error'}: ${errors[i].message ?? ''})`)
            .join('; ');
        return new util_errors/* RollbackError */.Z(`Vercel answered 201 but did not save ${list}`, errors.some(e => e.code === 'ENV_CONFLICT')
            ? CONFLICT_HINT
            : 'Check the variable in the Vercel dashboard and rerun: variables already saved are not changed twice.');
    }
    async currentProductionDeployment() {
        const project = await this.project();
        if (project.productionId)
            return this.getDeployment(project.productionId);
        const list = (await this.listDeployments({ projectId: project.id, target: 'production', state: 'READY' }, page => page.some(d => d.aliasAssigned === true))).map(d => this.fromList(d));
        return list.find(d => d.aliasAssigned) ?? list[0];
    }
    async pendingProductionDeployments(since) {
        const project = await this.project();
        const list = await this.listDeployments({
            projectId: project.id,
            target: 'production',
            state: 'QUEUED,INITIALIZING,BUILDING,READY',
            since: String(since)
        });
        return list
            .map(d => this.fromList(d))
            .filter(d => (d.createdAt ?? 0) > since && !(d.state === 'READY' && d.aliasAssigned))
            .filter(d => !d.aliasError);
    }
    listDeployments(query, stopWhen) {
        return readVercelPages(this.http, '/v6/deployments', 'deployments', {
            what: `the production deployments of ${this.description}`,
            query: { ...query, limit: '100' },
            stopWhen
        });
    }
    fromList(d) {
        return {
            id: String(d.uid),
            url: String(d.url),
            state: String(d.readyState ?? d.state),
            aliasAssigned: d.aliasAssigned === true,
            aliasError: d.aliasError ?? undefined,
            createdAt: Number(d.createdAt ?? d.created),
            buildingAt: typeof d.buildingAt === 'number' ? d.buildingAt : undefined,
            target: typeof d.target === 'string' ? d.target : undefined
        };
    }
    fromV13(d) {
        return {
            id: String(d.id),
            url: String(d.url),
            state: String(d.readyState),
            aliasAssigned: d.aliasAssigned === true,
            aliasError: d.aliasError ?? undefined,
            errorMessage: typeof d.errorMessage === 'string'
                ? `${typeof d.errorCode === 'string' ? `${d.errorCode}: ` : ''}${d.errorMessage}`
                : undefined,
            createdAt: typeof d.createdAt === 'number' ? d.createdAt : undefined,
            buildingAt: typeof d.buildingAt === 'number' ? d.buildingAt : undefined,
            target: typeof d.target === 'string' ? d.target : undefined
        };
    }
    async getDeployment(id) {
        const body = await this.http.json('GET', `/v13/deployments/${encodeURIComponent(id)}`);
        return this.fromV13(body);
    }
    async redeploy(from, meta) {
        const project = await this.project();
        const body = await this.http.json('POST', '/v13/deployments', {
            query: { forceNew: '1' },
            json: {
                name: project.name,
                project: project.id,
                deploymentId: from.id,
                target: 'production',
                meta: { action: 'redeploy', ...meta }
            },
            // Creating a deployment is not idempotent: retry only what Vercel did not process.
            retry: 'rejected'
        });
        return this.fromV13(body);
    }
    async waitForDeployment(id, options) {
        let promoted = false;
        let lastState = '';
        return poll({
            clock: this.clock ?? { now: Date.now, sleep: ms => new Promise(r => setTimeout(r, ms)) },
            timeoutMs: options.timeoutMs,
            check: async () => {
                let d = await this.getDeployment(id);
                if (options.promote &&
                    !promoted &&
                    d.state === 'READY' &&
                    !d.aliasAssigned &&
                    !d.aliasError) {
                    await this.promote(d.id);
                    promoted = true;
                    d = await this.getDeployment(id);
                }
                const state = `${d.state}${d.state === 'READY' ? (d.aliasAssigned ? ', alias assigned' : ', alias pending') : ''}`;
                if (state !== lastState)
                    options.onProgress?.(d);
                lastState = state;
                this.failIfBroken(d);
                return d.state === 'READY' && d.aliasAssigned
                    ? { done: true, value: d }
                    : { done: false, state };
            },
            timeoutError: (last, timeoutMs) => new util_errors/* RollbackError */.Z(`deployment ${id} not live after ${(0,duration/* formatDuration */.a3)(timeoutMs)} (last state: ${last})`, 'It may still finish: watch it in the Vercel dashboard, or raise flags.wait-timeout and rerun.')
        });
    }
    failIfBroken(d) {
        if (d.aliasError)
            throw new util_errors/* RollbackError */.Z(`deployment ${d.id} built but its alias was not assigned: ${d.aliasError.code ?? ''} ${d.aliasError.message ?? ''}`.trim(), 'Production still serves the previous deployment. Fix the domain in the Vercel dashboard and promote this deployment, or rerun.');
        if (['ERROR', 'CANCELED'].includes(d.state) || d.state.endsWith('_ERROR'))
            throw new util_errors/* RollbackError */.Z(`deployment ${d.id} ended ${d.state}${d.errorMessage ? `: ${d.errorMessage}` : ''}`, 'Production still serves the previous deployment. Read the build log in the Vercel dashboard, fix it and rerun: the variables are already set.');
    }
}

;// CONCATENATED MODULE: ./src/providers/index.ts
/** Builds the hosting provider a runbook names, with the token from secrets or the environment. */



/** The hosting token, or undefined; never logged. */
function hostingToken(source) {
    const hosting = source.hosting;
    if (!hosting)
        return undefined;
    return source.inputToken ?? source.env[hosting['token-env']] ?? undefined;
}
/** Throws RollbackError naming the runbook field or variable when the provider cannot be built. */
function createHostingProvider(source, overrides = {}) {
    const hosting = source.hosting;
    if (!hosting)
        throw new util_errors/* RollbackError */.Z('the runbook has `flags` but no `hosting` section: there is no platform to set the variables on', 'Add `hosting: { provider: vercel, project: <id or name>, team: team_... }` to the runbook.');
    const tokenEnv = hosting['token-env'];
    const token = hostingToken(source);
    if (!token)
        throw new util_errors/* RollbackError */.Z(`no hosting token: neither the hosting-token input nor the ${tokenEnv} environment variable is set`, hosting.provider === 'vercel'
            ? `Store a Vercel access token as a secret and pass it as the \`hosting-token\` input or as env ${tokenEnv} (runbook hosting.token-env).`
            : `Pass a fine-grained token with "Variables: write" and "Actions: write" as the \`hosting-token\` input or as env ${tokenEnv} (GITHUB_TOKEN cannot write variables).`);
    // The source's fetch is the entry point's (proxy-aware) one; its sleep is the tests' hook.
    const clock = {
        now: overrides.now ?? (() => Date.now()),
        sleep: ms => source.sleep(ms),
        random: overrides.random ?? (() => Math.random())
    };
    const tokenSource = `the hosting-token input / ${tokenEnv}`;
    switch (hosting.provider) {
        case 'vercel':
            return new VercelProvider({
                apiUrl: hosting['api-url'],
                token,
                project: hosting.project,
                teamId: hosting.team,
                tokenSource,
                fetch: source.fetch,
                clock,
                log: source.log
            });
        case 'github-variables':
            return new GitHubVariablesProvider({
                apiUrl: hosting['api-url'] ?? source.githubApiUrl ?? 'https://api.github.com',
                token,
                project: hosting.project,
                workflow: hosting.workflow ?? '',
                ref: hosting.ref,
                tokenSource,
                fetch: source.fetch,
                clock,
                log: source.log
            });
    }
}

// EXTERNAL MODULE: ./src/runbook/schema-fields.ts
var schema_fields = __nccwpck_require__(9659);
// EXTERNAL MODULE: ./src/util/credentials.ts
var credentials = __nccwpck_require__(2970);
;// CONCATENATED MODULE: ./src/secrets.ts



/** Where each secret input comes from, for messages (never the value). */
const SECRET_INPUT_NAMES = {
    githubToken: 'github-token (GITHUB_TOKEN)',
    hostingToken: 'hosting-token',
    databaseUrl: 'database-url'
};
let secretFields;
/** The runbook's fields that name a secret's variable (`x-secret` in the schema). */
function secretFieldPaths() {
    secretFields ??= (0,schema_fields/* markedFields */.Wu)('x-secret').map(field => field.path);
    return secretFields;
}
/** The environment variables this runbook names for secrets (token-env, url-env, ...). */
function secretVariableNames(runbook) {
    const names = secretFieldPaths().flatMap(path => (0,schema_fields/* valuesAt */.I0)(runbook, path).flatMap(({ value }) => (typeof value === 'string' ? [value] : [])));
    return [...new Set(names)];
}
/** The secret inputs and the values of the variables the runbook names. */
function secretSources(runbook, env, secrets) {
    const inputs = Object.keys(SECRET_INPUT_NAMES).map(key => ({
        name: SECRET_INPUT_NAMES[key],
        value: secrets[key]
    }));
    const named = secretVariableNames(runbook).map(name => ({ name: `$${name}`, value: env[name] }));
    return [...inputs, ...named].filter((s) => typeof s.value === 'string' && s.value.length > 0);
}
/**
 * A secret with a line break or another control character splits log lines (and with them the
 * runner's masking) and is never a real token: refused, naming where it came from.
 */
function secretProblems(sources) {
    return sources
        .filter(source => credentials/* CONTROL_CHARACTER */.gW.test(source.value))
        .map(source => `${source.name}: the value contains a line break or another control character; set it to the bare secret (no trailing newline)`);
}
/** The secret inputs, the variables the runbook names, and the passwords inside URLs. */
function runSecrets(runbook, env, secrets) {
    const values = secretSources(runbook, env, secrets).map(source => source.value);
    return [...values, ...values.flatMap(v => (0,redact/* urlPassword */.Ds)(v) ?? [])];
}

;// CONCATENATED MODULE: ./src/dependencies.ts







const realSleep = (ms) => new Promise(resolve => setTimeout(resolve, ms));
const NO_PROGRESS = {
    plannedPhases: [],
    outputs: {},
    failed: false,
    summary: () => ''
};
function runLabel(runId, runUrl) {
    return `run ${runId}${runUrl ? ` (${runUrl})` : ''}`;
}
function buildDependencies(options) {
    const { runbook, env, secrets, request } = options;
    const clock = { now: options.now ?? Date.now, sleep: options.sleep ?? realSleep };
    // Hosting, verify and the webhook honour the proxy variables of the run's environment.
    const fetchImpl = options.fetch ?? createFetch(proxySettingsFrom(env));
    const redactor = options.redactor ?? primedRedactor(runbook, env, secrets);
    const databaseSource = {
        config: runbook.database,
        inputUrl: secrets.databaseUrl,
        env,
        runId: request.runId
    };
    const webhookVariable = runbook.notify?.['webhook-env'];
    return {
        run: {
            mode: options.mode,
            request,
            runbookName: runbook.name,
            runUrl: options.github?.runUrl,
            label: runLabel(request.runId, options.github?.runUrl)
        },
        log: options.log,
        clock,
        redactor,
        fetch: fetchImpl,
        checkout: {
            workdir: options.workdir,
            env,
            githubToken: secrets.githubToken,
            tempDir: env.RUNNER_TEMP,
            runner: options.gitRunner,
            log: options.log
        },
        database: {
            settings: () => dbSettings(databaseSource),
            url: () => secrets.databaseUrl ?? env[runbook.database?.['url-env'] ?? 'DATABASE_URL'] ?? undefined
        },
        hosting: {
            provider: () => createHostingProvider({
                hosting: runbook.hosting,
                inputToken: secrets.hostingToken,
                env,
                githubApiUrl: options.github?.apiUrl,
                fetch: fetchImpl,
                sleep: clock.sleep,
                log: options.log
            })
        },
        github: githubAccess(options.github, secrets.githubToken, (0,proxy/* proxySettingsFrom */.Yw)(env), options.log),
        webhook: {
            variable: webhookVariable,
            url: webhookVariable ? env[webhookVariable] || undefined : undefined
        },
        progress: options.progress ?? NO_PROGRESS
    };
}
function githubAccess(target, token, proxy, log) {
    let client;
    return {
        target,
        client() {
            if (!target || !token)
                return undefined;
            client ??= new GitHubClient({
                apiUrl: target.apiUrl,
                token,
                owner: target.owner,
                repo: target.repo,
                proxy,
                log
            });
            return client;
        },
        unavailable: () => !target ? 'no GitHub repository configured' : 'no GitHub token (github-token input)'
    };
}
function primedRedactor(runbook, env, secrets) {
    const redactor = new redact/* Redactor */.pO();
    for (const secret of runSecrets(runbook, env, secrets))
        redactor.add(secret);
    return redactor;
}
/** The dependencies a phase declared, and nothing else. */
function pick(deps, names) {
    const picked = {};
    for (const name of names)
        picked[name] = deps[name];
    return picked;
}

;// CONCATENATED MODULE: ./src/engine.ts



function toStepError(err) {
    if (err instanceof model/* RollbackError */.Z)
        return { message: err.message, hint: err.hint };
    if (err instanceof Error)
        return { message: err.message };
    return { message: String(err) };
}
function newJournal(plan, now) {
    return {
        command: plan.request.command,
        runbookName: plan.runbookName,
        severity: plan.request.severity,
        environment: plan.policy.environment,
        status: 'planned',
        startedAt: new Date(now).toISOString(),
        steps: plan.steps.map(step => ({
            id: step.id,
            phase: step.phase,
            title: step.title,
            stage: step.stage,
            mutates: step.mutates,
            planned: step.changes,
            input: step.action,
            status: 'planned',
            changed: []
        })),
        excluded: plan.excluded,
        outputs: {},
        recovery: [],
        warnings: []
    };
}
function applyNotes(journal, notes) {
    for (const note of notes) {
        const record = journal.steps.find(s => s.id === note.stepId);
        if (!record)
            continue;
        if (note.changes)
            record.planned = note.changes;
        if (note.details)
            record.details = { ...record.details, ...note.details };
    }
}
/**
 * Read-only checks of every phase in the plan; all of them, so every problem shows. They run
 * concurrently (a plan waits on git, the database and HTTP at once), except phases that share a
 * resource (`preflightShares`), which take turns. Failures are reported in plan order.
 */
async function preflight(plan, deps, journal, modules, checked) {
    const phases = [...new Set(plan.steps.map(s => s.phase))].filter(p => modules[p].preflight);
    const check = async (phase) => {
        const started = deps.clock.now();
        const module = modules[phase];
        try {
            const found = await module.preflight(plan.steps.filter(s => s.phase === phase), pick(deps, module.needs));
            if (found.notes)
                applyNotes(journal, found.notes);
            for (const [stepId, value] of found.checked ?? [])
                checked.set(stepId, value);
            return undefined;
        }
        catch (err) {
            return { phase, error: toStepError(err) };
        }
        finally {
            deps.log.debug(`preflight ${phase}: ${deps.clock.now() - started} ms`);
        }
    };
    const turns = new Map();
    const outcomes = phases.map(phase => {
        const shared = modules[phase].preflightShares;
        if (!shared)
            return check(phase);
        const outcome = (turns.get(shared) ?? Promise.resolve()).then(() => check(phase));
        turns.set(shared, outcome);
        return outcome;
    });
    return (await Promise.all(outcomes)).filter(f => f !== undefined);
}
/** The engine's own record of the run, exposed to phases read-only as `progress`. */
function progressOf(plan, journal, state, summary) {
    const plannedPhases = [...new Set(plan.steps.map(s => s.phase))];
    return {
        plannedPhases,
        get outputs() {
            return journal.outputs;
        },
        get failed() {
            return state.failed;
        },
        summary
    };
}
async function engine_execute(plan, base, hooks = {}) {
    const now = hooks.now ?? base.clock.now;
    const modules = hooks.modules ?? PHASE_MODULES;
    const started = now();
    const journal = newJournal(plan, started);
    Object.assign(journal.outputs, hooks.initialOutputs);
    const state = { failed: false };
    const deps = {
        ...base,
        progress: progressOf(plan, journal, state, hooks.summary ?? base.progress.summary)
    };
    const log = deps.log;
    // A report that cannot be written must not stop a rollback halfway: warn and carry on.
    let saveWarned = false;
    const save = async () => {
        try {
            await hooks.onJournal?.(journal);
        }
        catch (err) {
            if (!saveWarned)
                log.warn(`could not write the report: ${toStepError(err).message}`);
            saveWarned = true;
        }
    };
    const finish = async (status) => {
        journal.status = status;
        journal.finishedAt = new Date(now()).toISOString();
        journal.durationMs = now() - started;
        await save();
        return journal;
    };
    for (const phase of deps.progress.plannedPhases) {
        try {
            modules[phase].warmUp?.(plan.steps.filter(s => s.phase === phase));
        }
        catch (err) {
            // Only a head start: what it prepares reports its own errors where it is used.
            log.debug(`warm-up of ${phase}: ${toStepError(err).message}`);
        }
    }
    const checked = new Map();
    const failures = await preflight(plan, deps, journal, modules, checked);
    if (plan.request.command === 'plan') {
        // A plan is read-only: preflight makes it concrete where it can, and only warns where it can't.
        journal.warnings.push(...failures.map(f => `${f.phase} preflight: ${f.error.message}`));
        return finish('planned');
    }
    state.failed = failures.length > 0;
    if (state.failed) {
        // Nothing is changed; only the closing steps of phases that passed their checks still run
        // (so whoever pressed the button hears why).
        journal.error = {
            message: failures.map(f => `${f.phase}: ${f.error.message}`).join('; '),
            hint: failures.flatMap(f => f.error.hint ?? []).join('; ') || undefined
        };
    }
    const failedPhases = new Set(failures.map(f => f.phase));
    await save();
    for (const [index, step] of plan.steps.entries()) {
        const record = journal.steps[index];
        if ((state.failed && step.stage !== 'finally') || failedPhases.has(step.phase)) {
            record.status = 'skipped';
            continue;
        }
        const module = modules[step.phase];
        const result = await runStep(module, step, pick(deps, module.needs), checked.get(step.id), {
            drill: deps.run.mode === 'drill',
            now,
            log,
            record
        });
        Object.assign(record, result);
        Object.assign(journal.outputs, result.outputs);
        journal.recovery.push(...(result.recovery ?? []));
        if (result.status === 'failed' && !state.failed) {
            state.failed = true;
            journal.error = {
                message: `${step.id}: ${result.error?.message ?? 'failed'}`,
                hint: result.error?.hint
            };
        }
        await save();
    }
    return finish(state.failed ? 'failed' : 'succeeded');
}
async function runStep(module, step, deps, checked, at) {
    const started = at.now();
    at.record.startedAt = new Date(started).toISOString();
    at.log.info(`▶ ${step.id}: ${step.title}`);
    let result;
    try {
        // The registry erases each module's own dependency type; `deps` is what it declared.
        const own = deps;
        result = at.drill
            ? await module.drill(step, own, checked)
            : await module.run(step, own, checked);
    }
    catch (err) {
        result = { status: 'failed', changed: [], error: toStepError(err) };
    }
    const durationMs = at.now() - started;
    if (result.status === 'failed')
        at.log.error(`✖ ${step.id}: ${result.error?.message ?? 'failed'}`);
    else
        at.log.info(`✔ ${step.id} (${result.status}, ${durationMs} ms)`);
    return { ...result, durationMs };
}

;// CONCATENATED MODULE: ./src/plan.ts


function severityPolicy(runbook, request) {
    const override = runbook.severity[request.severity];
    if (override)
        return override;
    const fallback = constants/* DEFAULT_SEVERITY_MATRIX */.gt[request.severity];
    return { environment: undefined, ...fallback, phases: [...fallback.phases] };
}
function buildPlan(runbook, request, modules = PHASE_MODULES) {
    const policy = severityPolicy(runbook, request);
    const steps = [];
    const excluded = [];
    for (const phase of constants/* PHASES */.ZG) {
        if (!policy.phases.includes(phase)) {
            excluded.push({ phase, reason: `not part of severity ${request.severity}` });
            continue;
        }
        if (request.phases && !request.phases.includes(phase)) {
            excluded.push({ phase, reason: 'not in the requested phases' });
            continue;
        }
        const phaseSteps = modules[phase].plan(runbook, request);
        if (phaseSteps.length === 0) {
            excluded.push({ phase, reason: 'not configured in the runbook' });
            continue;
        }
        const allowed = policy.mutate ? phaseSteps : phaseSteps.filter(step => !step.mutates);
        if (allowed.length < phaseSteps.length) {
            excluded.push({
                phase,
                reason: `severity ${request.severity} is investigate-only: ${phaseSteps.length - allowed.length} mutating step(s) left out`
            });
        }
        steps.push(...allowed);
    }
    const stageOrder = { before: 0, main: 1, finally: 2 };
    // Array.prototype.sort is stable: phase order is kept inside each stage.
    steps.sort((a, b) => stageOrder[a.stage] - stageOrder[b.stage]);
    return { runbookName: runbook.name, request, policy, steps, excluded };
}

;// CONCATENATED MODULE: ./src/report/markdown.ts

const STATUS_ICON = {
    planned: '📝',
    succeeded: '✅',
    failed: '❌',
    skipped: '⏭️',
    warned: '⚠️'
};
const RUN_HEADLINE = {
    planned: '📝 Rollback plan',
    succeeded: '✅ Rollback succeeded',
    failed: '❌ Rollback failed'
};
function renderMarkdown(journal) {
    const lines = [];
    const mode = journal.command === 'drill' ? ' (drill: production untouched)' : '';
    lines.push(`## ${RUN_HEADLINE[journal.status]}: ${escapeCell(journal.runbookName)}${mode}`, '');
    const gate = journal.environment
        ? ` It must run behind the GitHub Environment \`${journal.environment}\` (required reviewers).`
        : '';
    lines.push(`Severity **${journal.severity}**.${gate}`, '');
    if (journal.durationMs !== undefined) {
        lines.push(`Started ${journal.startedAt}, took ${(0,duration/* formatDuration */.a3)(journal.durationMs)}.`, '');
    }
    if (journal.error) {
        lines.push(`> **Error:** ${journal.error.message}`);
        if (journal.error.hint)
            lines.push(`> **Fix:** ${journal.error.hint}`);
        lines.push('');
    }
    lines.push(...stepTable(journal), '');
    if (journal.command === 'plan') {
        if (journal.steps.length > 0)
            lines.push(...plannedOrder(journal), '');
    }
    else if (journal.steps.some(s => s.durationMs !== undefined)) {
        lines.push(...timeline(journal), '');
    }
    if (journal.recovery.length > 0) {
        lines.push('### Where discarded data was kept', '', ...journal.recovery.map(r => `- ${r}`), '');
    }
    if (journal.warnings.length > 0) {
        lines.push('### Warnings', '', ...journal.warnings.map(w => `- ${w}`), '');
    }
    if (journal.excluded.length > 0) {
        lines.push('<details><summary>Phases left out</summary>', '');
        lines.push(...journal.excluded.map(e => `- **${e.phase}**: ${e.reason}`), '', '</details>', '');
    }
    return lines.join('\n');
}
function stepTable(journal) {
    const showPlanned = journal.command === 'plan';
    const rows = [
        `| Step | Status | Duration | ${showPlanned ? 'Would change' : 'Changed'} |`,
        '| --- | --- | --- | --- |'
    ];
    for (const step of journal.steps) {
        const changes = showPlanned || step.status === 'skipped' ? step.planned : step.changed;
        const note = step.error
            ? [`**${step.error.message}**${step.error.hint ? ` (${step.error.hint})` : ''}`]
            : [];
        rows.push(`| ${escapeCell(step.title)} | ${STATUS_ICON[step.status]} ${step.status} | ${step.durationMs === undefined ? '' : (0,duration/* formatDuration */.a3)(step.durationMs)} | ${[...note, ...changes].map(escapeCell).join('<br>') || '—'} |`);
    }
    if (journal.steps.length === 0)
        rows.push('| (no steps) | | | |');
    return rows;
}
/**
 * A mermaid gantt chart: one bar per step that ran, on a real time axis, one section per phase
 * (a phase's steps may be apart in time, e.g. integrity before and after).
 */
function timeline(journal) {
    const lines = [
        '```mermaid',
        'gantt',
        '  dateFormat x',
        '  axisFormat %M:%S',
        '  title Rollback timeline'
    ];
    const byPhase = new Map();
    for (const step of journal.steps) {
        if (!step.startedAt || step.durationMs === undefined)
            continue;
        byPhase.set(step.phase, [...(byPhase.get(step.phase) ?? []), step]);
    }
    for (const [phase, steps] of byPhase) {
        lines.push(`  section ${mermaidLabel(phase)}`);
        for (const step of steps) {
            const start = Date.parse(step.startedAt);
            const tag = step.status === 'failed' ? 'crit, ' : step.status === 'warned' ? 'active, ' : '';
            const end = start + Math.max(step.durationMs, 1);
            lines.push(`  ${mermaidLabel(step.title)} :${tag}${start}, ${end}`);
        }
    }
    lines.push('```');
    return lines;
}
const STAGE_NAME = {
    before: 'Before the rollback',
    main: 'The rollback',
    finally: 'Afterwards, whatever happened'
};
/** A plan has no times yet: a mermaid timeline of the order the steps will run in, by stage. */
function plannedOrder(journal) {
    const lines = ['```mermaid', 'timeline', '  title Order of the steps'];
    let stage = '';
    for (const step of journal.steps) {
        if (step.stage !== stage) {
            stage = step.stage;
            lines.push(`  section ${STAGE_NAME[step.stage]}`);
        }
        lines.push(`    ${step.phase} : ${mermaidLabel(step.title)}`);
    }
    lines.push('```');
    return lines;
}
/**
 * Characters mermaid reads as syntax in gantt and timeline lines (`:` ends a task name, `#` and
 * `;` end directives, `%` starts a comment, a backtick could close the code block, quotes and
 * angle brackets are read in some states), shown as look-alikes that are plain text.
 */
const MERMAID_LOOKALIKES = {
    ':': '\u2236',
    '#': '\uFF03',
    ';': '\uFF1B',
    '%': '\uFF05',
    '`': '\u02CB',
    '"': '\uFF02',
    '<': '\u2039',
    '>': '\u203A',
    '{': '\uFF5B',
    '}': '\uFF5D'
};
/**
 * Words that start a statement when a line begins with them (`click`, `title`, `dateFormat`, a
 * date...): a label that begins so gets an invisible zero-width space in front, which mermaid
 * does not skip as white space, so the line stays a task or an event.
 */
const MERMAID_STATEMENT = /^(acc|click|call|href|gantt|timeline|dateformat|inclusiveenddates|topaxis|axisformat|tickinterval|includes|excludes|todaymarker|weekday|weekend|title|section|\d{4}-\d\d-\d\d)/i;
/** Longest label drawn; the table has the full text. */
const MAX_LABEL = 80;
/** Any runbook text as one safe label: one line, no syntax, bounded, never empty. */
function mermaidLabel(text) {
    let label = text
        .replace(/[:#;%`"<>{}]/g, c => MERMAID_LOOKALIKES[c])
        // Line breaks, tabs and every other control or separator character: one space.
        // eslint-disable-next-line no-control-regex -- replacing control characters is the point
        .replace(/[\s\u0000-\u001f\u007f-\u009f\u200b\u2028\u2029\ufeff]+/g, ' ')
        .trim();
    if (label.length > MAX_LABEL)
        label = `${label.slice(0, MAX_LABEL - 1)}…`;
    if (label === '')
        return '(unnamed)';
    return MERMAID_STATEMENT.test(label) ? `\u200B${label}` : label;
}
function escapeCell(text) {
    return text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

;// CONCATENATED MODULE: ./src/report/text.ts

function renderText(journal) {
    const lines = [];
    const drill = journal.command === 'drill' ? ' (drill)' : '';
    lines.push(`Rollback ${journal.runbookName}: ${journal.status.toUpperCase()}${drill}`);
    const gate = journal.environment
        ? `, to run behind the GitHub Environment ${journal.environment} (required reviewers)`
        : '';
    const started = journal.durationMs === undefined ? '' : `; started ${journal.startedAt}`;
    lines.push(`Severity ${journal.severity}${gate}${started}.`);
    if (journal.error) {
        lines.push(`  error: ${journal.error.message}`);
        if (journal.error.hint)
            lines.push(`  fix:   ${journal.error.hint}`);
    }
    lines.push('');
    // One line per step (status, time, title, when it started: the timeline), what it changed
    // indented below: long titles and long change lists stay readable in any terminal width.
    const runStart = Date.parse(journal.startedAt);
    for (const step of journal.steps) {
        const time = step.durationMs === undefined ? '' : (0,duration/* formatDuration */.a3)(step.durationMs);
        const at = step.startedAt ? `at +${(0,duration/* formatDuration */.a3)(Date.parse(step.startedAt) - runStart)}` : '';
        const changes = journal.command === 'plan' || step.status === 'skipped' ? step.planned : step.changed;
        const notes = step.error ? [`error: ${step.error.message}`, ...changes] : changes;
        lines.push(`${step.status.padEnd(9)} ${time.padStart(8)}  ${step.title}${at ? `  (${at})` : ''}`);
        for (const note of notes)
            lines.push(`${' '.repeat(20)}- ${indentContinuation(note, 22)}`);
    }
    for (const [title, items] of [
        ['Where discarded data was kept:', journal.recovery],
        ['Warnings:', journal.warnings],
        ['Left out:', journal.excluded.map(e => `${e.phase}: ${e.reason}`)]
    ]) {
        if (items.length === 0)
            continue;
        lines.push('', title, ...items.map(i => `  - ${indentContinuation(i, 4)}`));
    }
    if (journal.durationMs !== undefined)
        lines.push('', `Took ${(0,duration/* formatDuration */.a3)(journal.durationMs)}.`);
    return lines.join('\n');
}
function indentContinuation(text, width) {
    return text.replace(/\n/g, `\n${' '.repeat(width)}`);
}

// EXTERNAL MODULE: ./src/request.ts
var src_request = __nccwpck_require__(4390);
// EXTERNAL MODULE: ./src/runbook/load.ts + 6 modules
var runbook_load = __nccwpck_require__(4360);
;// CONCATENATED MODULE: ./src/preconditions.ts
/**
 * Checks of a run's own setup, made before the first change (with the runbook, input and
 * preflight checks): something was selected to run, and the report can be written.
 */



/** A plan with no steps would report success having done nothing: that is invalid input. */
function checkSelection(plan) {
    if (plan.steps.length > 0)
        return;
    const why = plan.excluded.map(e => `${e.phase}: ${e.reason}`).join('; ');
    throw new src_request/* InputError */.dz([
        `phases: nothing was selected (${why}); choose phases that severity ${plan.request.severity} includes and the runbook configures`
    ]);
}
/**
 * The report is the record of the run: a path it cannot be written to is refused now, not
 * discovered after production was changed. Opening for append creates it and changes nothing.
 */
async function checkReportPath(path) {
    try {
        await (0,promises_.mkdir)((0,external_node_path_.dirname)(path), { recursive: true });
        const handle = await (0,promises_.open)(path, 'a');
        await handle.close();
    }
    catch (err) {
        const code = err.code ?? 'error';
        throw new src_request/* InputError */.dz([
            `report: cannot write the report to ${path} (${code}); choose a writable path (--report for the CLI, RUNNER_TEMP for the action)`
        ]);
    }
}

;// CONCATENATED MODULE: ./src/rollback.ts
/**
 * One rollback, whatever started it: load + validate the runbook and the inputs, plan, execute,
 * journal to the report file, render the summary. Both entry points call this; it never reads
 * process.env or Actions inputs itself.
 */












async function rollback(options) {
    const runbook = await (0,runbook_load/* loadRunbook */.XW)(options.runbookPath);
    const request = (0,src_request/* parseRequest */.TR)(options.inputs, options.trigger, options.runId);
    const badSecrets = secretProblems(secretSources(runbook, options.env, options.secrets));
    if (badSecrets.length > 0)
        throw new src_request/* InputError */.dz(badSecrets);
    const redactor = new redact/* Redactor */.pO();
    for (const secret of runSecrets(runbook, options.env, options.secrets)) {
        for (const form of redactor.add(secret))
            options.registerSecret?.(form);
    }
    const log = redactingLogger(options.log, redactor);
    const plan = buildPlan(runbook, request);
    checkSelection(plan);
    await checkReportPath(options.reportPath);
    const deps = buildDependencies({
        mode: request.command === 'drill' ? 'drill' : 'run',
        request,
        runbook,
        workdir: options.workdir,
        env: options.env,
        secrets: options.secrets,
        log,
        github: options.github,
        fetch: options.fetch,
        sleep: options.sleep,
        gitRunner: options.gitRunner,
        redactor
    });
    const writeReport = async (journal) => {
        const report = { tool: 'emergency-rollback', runbook: options.runbookPath, request, ...journal };
        await (0,promises_.mkdir)((0,external_node_path_.dirname)(options.reportPath), { recursive: true });
        await (0,promises_.writeFile)(options.reportPath, redactor.redact(JSON.stringify(report, null, 2)) + '\n');
    };
    let current;
    const summary = () => (current ? redactor.redact(renderMarkdown(current)) : '');
    const journal = await engine_execute(plan, deps, {
        summary,
        initialOutputs: options.initialOutputs,
        onJournal: async (j) => {
            current = j;
            await writeReport(j);
            // Progress reports are news, not the record: one that fails must not stop the run.
            await options.onProgress?.(summary()).catch(err => log.debug(`progress report: ${err}`));
        }
    });
    return {
        // Its error becomes the action's last error line: redacted like every other output.
        journal: JSON.parse(redactor.redact(JSON.stringify(journal))),
        request,
        markdown: redactor.redact(renderMarkdown(journal)),
        text: redactor.redact(renderText(journal)),
        outputs: {
            status: journal.status,
            report: options.reportPath,
            ...rollback_pick(journal.outputs, ['head-sha', 'deployment-url', 'incident-issue'])
        }
    };
}
function redactingLogger(log, redactor) {
    return {
        info: m => log.info(redactor.redact(m)),
        warn: m => log.warn(redactor.redact(m)),
        error: m => log.error(redactor.redact(m)),
        debug: m => log.debug(redactor.redact(m))
    };
}
function rollback_pick(record, keys) {
    return Object.fromEntries(keys.filter(k => record[k] !== undefined).map(k => [k, record[k]]));
}


/***/ }),

/***/ 9469:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {

/* harmony export */ __nccwpck_require__.d(__webpack_exports__, {
/* harmony export */   P9: () => (/* binding */ BRANCH_NAME),
/* harmony export */   ZG: () => (/* binding */ PHASES),
/* harmony export */   gt: () => (/* binding */ DEFAULT_SEVERITY_MATRIX),
/* harmony export */   oC: () => (/* binding */ SEVERITIES)
/* harmony export */ });
/** Runbook names the engine needs at run time (kept apart from the zod schema, a build-time tool). */
const PHASES = [
    'flags',
    'verify',
    'database',
    'git',
    'schema',
    'integrity',
    'files',
    'monitor',
    'notify'
];
const SEVERITIES = ['critical', 'high', 'medium', 'low'];
/** The seed's decision matrix; a runbook's `severity` section overrides it per severity. */
const DEFAULT_SEVERITY_MATRIX = {
    critical: { phases: [...PHASES], mutate: true, description: 'Immediate rollback (< 5 min)' },
    high: {
        phases: [...PHASES],
        mutate: true,
        environment: 'production-rollback',
        description: 'Scheduled rollback behind required reviewers (< 30 min)'
    },
    medium: {
        phases: ['verify', 'integrity', 'monitor', 'notify'],
        mutate: false,
        description: 'Investigate first: plan, integrity checks, health; no mutations (< 2 h)'
    },
    low: { phases: ['monitor', 'notify'], mutate: false, description: 'Continue monitoring' }
};
/** A branch name this tool accepts (a safe subset of git's rules: no "..", no leading "-"). */
const BRANCH_NAME = /^(?!-)(?!.*\.\.)[A-Za-z0-9._/-]*[A-Za-z0-9._-]$/;


/***/ }),

/***/ 4360:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {


// EXPORTS
__nccwpck_require__.d(__webpack_exports__, {
  rk: () => (/* binding */ RunbookError),
  XW: () => (/* binding */ loadRunbook)
});

// UNUSED EXPORTS: MAX_ALIASES, MAX_NESTING, MAX_PRINTED_PROBLEMS, MAX_RUNBOOK_BYTES, dotted, formatProblem, parseRunbook

// EXTERNAL MODULE: external "node:fs"
var external_node_fs_ = __nccwpck_require__(3024);
// EXTERNAL MODULE: external "node:fs/promises"
var promises_ = __nccwpck_require__(1455);
// EXTERNAL MODULE: ./node_modules/yaml/dist/index.js
var dist = __nccwpck_require__(8815);
// EXTERNAL MODULE: ./src/util/credentials.ts
var credentials = __nccwpck_require__(2970);
// EXTERNAL MODULE: ./src/runbook/validate.generated.ts
var validate_generated = __nccwpck_require__(7583);
;// CONCATENATED MODULE: ./src/util/closest.ts
/** The candidate closest to a mistyped word, when one is close enough to suggest. */
function closest(word, candidates) {
    let best;
    let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
    for (const candidate of candidates) {
        const d = editDistance(word.toLowerCase(), candidate.toLowerCase());
        if (d < bestDistance) {
            best = candidate;
            bestDistance = d;
        }
    }
    return best;
}
function editDistance(a, b) {
    const row = Array.from({ length: b.length + 1 }, (_, i) => i);
    for (let i = 1; i <= a.length; i++) {
        let prev = row[0];
        row[0] = i;
        for (let j = 1; j <= b.length; j++) {
            const next = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
            prev = row[j];
            row[j] = next;
        }
    }
    return row[b.length];
}

;// CONCATENATED MODULE: ./src/runbook/issues.ts
/**
 * Turns the generated validator's errors (ajv's shape) into one-line problems that say what is
 * expected and how to fix it. What a pattern means comes from the schema's `x-expected`.
 */


/** The schema node that holds the failing keyword (`#/properties/a/pattern` -> node of `a`). */
function nodeAt(schemaPath) {
    const segments = schemaPath.replace(/^#\/?/, '').split('/').slice(0, -1);
    let node = validate_generated/* runbookJsonSchema */.Ym;
    for (const raw of segments) {
        const segment = raw.replace(/~1/g, '/').replace(/~0/g, '~');
        node =
            typeof node === 'object' && node !== null
                ? node[segment]
                : undefined;
    }
    return node;
}
/** The instance path as keys and indexes, read against the data (so "0" in an array is 0). */
function dataPath(instancePath, data) {
    const path = [];
    let current = data;
    for (const raw of instancePath.split('/').slice(1)) {
        const segment = raw.replace(/~1/g, '/').replace(/~0/g, '~');
        const key = Array.isArray(current) ? Number(segment) : segment;
        path.push(key);
        current = current?.[key];
    }
    return path;
}
function valueAt(data, path) {
    return path.reduce((v, k) => v?.[k], data);
}
function kind(value) {
    if (value === null)
        return 'null';
    return Array.isArray(value) ? 'array' : typeof value;
}
function typeName(type) {
    const names = String(type ?? 'a value')
        .split(',')
        .map(t => (t === 'integer' ? 'number' : t));
    return names.length > 1 ? `${names.slice(0, -1).join(', ')} or ${names.at(-1)}` : names[0];
}
function typeMessage(expected, value) {
    if (expected === 'integer' && typeof value === 'number')
        return 'expected a whole number';
    const got = kind(value);
    const quoteHint = expected === 'string' && (got === 'boolean' || got === 'number')
        ? ' (quote the value, e.g. "false")'
        : '';
    return `expected ${typeName(expected)}, got ${got}${quoteHint}`;
}
function unknownKeyMessage(key, node) {
    const allowed = Object.keys(node?.properties ?? {});
    const close = closest(key, allowed);
    if (close)
        return `unknown key "${key}": did you mean "${close}"?`;
    return `unknown key "${key}"` + (allowed.length ? `: allowed keys are ${allowed.join(', ')}` : '');
}
function describe(error, value) {
    const p = error.params;
    switch (error.keyword) {
        case 'type':
            return typeMessage(String(p.type), value);
        case 'const':
            return `expected ${JSON.stringify(p.allowedValue)}`;
        case 'enum': {
            const values = p.allowedValues;
            return `expected one of ${values.map(v => JSON.stringify(v)).join(', ')}`;
        }
        case 'pattern':
            return `expected ${nodeAt(error.schemaPath)?.['x-expected'] ?? `text matching ${String(p.pattern)}`}`;
        case 'minLength':
            return `must not be empty (at least ${String(p.limit)} character(s))`;
        case 'minItems':
            return `must not be empty (at least ${String(p.limit)} item(s))`;
        case 'minimum':
            return `must be at least ${String(p.limit)}`;
        case 'maximum':
            return `must be at most ${String(p.limit)}`;
        default:
            return error.message ?? error.keyword;
    }
}
/** One problem per failing place; `const`/`enum` say more than `type` about the same value. */
function schemaProblems(errors, data) {
    const byPlace = new Map();
    for (const error of errors) {
        if (error.keyword === 'propertyNames')
            continue; // its inner error names the key
        const path = dataPath(error.instancePath, data);
        let problem;
        if (error.keyword === 'additionalProperties') {
            const key = String(error.params.additionalProperty);
            problem = {
                path: [...path, key],
                key,
                message: unknownKeyMessage(key, nodeAt(error.schemaPath))
            };
        }
        else if (error.keyword === 'required') {
            const missing = String(error.params.missingProperty);
            const property = nodeAt(error.schemaPath)?.properties?.[missing];
            const message = property?.const !== undefined
                ? `expected ${JSON.stringify(property.const)}`
                : `required: expected ${typeName(property?.type ?? 'object')}`;
            problem = { path: [...path, missing], message };
        }
        else if (error.propertyName !== undefined) {
            const key = error.propertyName;
            problem = { path: [...path, key], key, message: `invalid key: ${describe(error, key)}` };
        }
        else {
            problem = { path, message: describe(error, valueAt(data, path)) };
        }
        const place = `${JSON.stringify(problem.path)}|${problem.key ?? ''}`;
        const rank = error.keyword === 'const' || error.keyword === 'enum' ? 0 : 1;
        const seen = byPlace.get(place);
        if (!seen || rank < seen.rank)
            byPlace.set(place, { ...problem, rank });
    }
    return [...byPlace.values()].map(({ rank: _rank, ...problem }) => problem);
}

// EXTERNAL MODULE: ./src/util/duration.ts
var duration = __nccwpck_require__(6518);
// EXTERNAL MODULE: ./src/runbook/schema-fields.ts
var schema_fields = __nccwpck_require__(9659);
;// CONCATENATED MODULE: ./src/runbook/duration-bounds.ts
/**
 * Every duration within the bounds its field declares in the schema (`x-duration`): a zero
 * interval would poll without pause, an enormous timeout would never end.
 */


const DURATION = /^\d+(ms|s|m|h)$/;
let boundedFields;
function durationProblems(data) {
    boundedFields ??= (0,schema_fields/* markedFields */.Wu)('x-duration');
    const problems = [];
    for (const field of boundedFields) {
        for (const { path, value } of (0,schema_fields/* valuesAt */.I0)(data, field.path)) {
            // A malformed duration is the pattern's problem, reported by the schema check.
            if (typeof value !== 'string' || !DURATION.test(value))
                continue;
            const ms = (0,duration/* parseDuration */.E9)(value);
            const { min, max } = field.mark;
            if (ms < (0,duration/* parseDuration */.E9)(min) || ms > (0,duration/* parseDuration */.E9)(max)) {
                problems.push({ path, message: `expected a duration from ${min} to ${max}` });
            }
        }
    }
    return problems;
}

// EXTERNAL MODULE: ./src/git/paths.ts
var paths = __nccwpck_require__(2320);
;// CONCATENATED MODULE: ./src/runbook/rules.ts
/**
 * Runbook rules a JSON Schema does not express (across fields, or computed). They run on the data
 * after schema validation and read it defensively, so they can report alongside schema problems.
 */

const isObject = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (v) => (Array.isArray(v) ? v : []);
const strings = (v) => list(v).filter(x => typeof x === 'string');
const isEmptyObject = (v) => isObject(v) && Object.keys(v).length === 0;
function hostingRules(hosting) {
    if (!isObject(hosting) || hosting.provider !== 'github-variables')
        return [];
    const problems = [];
    if (hosting.workflow === undefined) {
        problems.push({
            path: ['hosting', 'workflow'],
            message: 'required: provider github-variables needs `workflow` (the deploy workflow file, e.g. deploy.yml)'
        });
    }
    if (typeof hosting.project === 'string' && !/^[\w.-]+\/[\w.-]+$/.test(hosting.project)) {
        problems.push({
            path: ['hosting', 'project'],
            message: 'provider github-variables needs `project: owner/repo`'
        });
    }
    return problems;
}
function databaseRules(database) {
    if (!isObject(database))
        return [];
    return list(database.steps).flatMap((step, i) => {
        if (!isObject(step))
            return [];
        const path = ['database', 'steps', i];
        const kinds = ['batch-update', 'drop-index', 'sql'].filter(k => k in step);
        if (kinds.length !== 1) {
            return [{ path, message: 'expected exactly one of batch-update, drop-index or sql' }];
        }
        if ('acknowledge-data-loss' in step && !('sql' in step)) {
            return [{ path: [...path, 'acknowledge-data-loss'], message: 'applies to sql steps only' }];
        }
        const update = step['batch-update'];
        if (isObject(update) && isEmptyObject(update.set)) {
            return [{ path: [...path, 'batch-update', 'set'], message: 'expected at least one column' }];
        }
        return [];
    });
}
function integrityRules(integrity) {
    return list(integrity).flatMap((check, i) => isObject(check) && isEmptyObject(check.expect)
        ? [{ path: ['integrity', i, 'expect'], message: 'expected one of rows, max-rows or value' }]
        : []);
}
function filesRules(files) {
    if (!isObject(files))
        return [];
    const problems = [];
    for (const key of ['protect', 'remove']) {
        for (const [i, path] of list(files[key]).entries()) {
            const problem = typeof path === 'string' && path !== '' ? (0,paths/* pathProblem */.z9)(path) : undefined;
            if (problem)
                problems.push({ path: ['files', key, i], message: problem });
        }
    }
    for (const overlap of (0,paths/* overlapProblems */.Mr)(strings(files.protect), strings(files.remove))) {
        problems.push({
            path: ['files', 'remove'],
            message: `protect/remove overlap: ${overlap}; a path cannot be both kept and removed`
        });
    }
    return problems;
}
function ruleProblems(runbook) {
    const flags = runbook.flags;
    return [
        ...hostingRules(runbook.hosting),
        ...(isObject(flags) && isEmptyObject(flags.set)
            ? [{ path: ['flags', 'set'], message: 'expected at least one variable' }]
            : []),
        ...databaseRules(runbook.database),
        ...integrityRules(runbook.integrity),
        ...filesRules(runbook.files)
    ];
}

;// CONCATENATED MODULE: ./src/runbook/secrets.ts
/**
 * Secrets never live in a runbook: it names the environment variables that hold them. This scan
 * refuses values that look like credentials so a pasted token fails validation instead of being
 * committed, logged and posted; the problem never repeats the value.
 */

/** Values (and flag names) that look like credentials. Runs on the validator's tree copy: no cycles. */
function findSecretValues(data, path = []) {
    if (typeof data === 'string') {
        const what = (0,credentials/* credentialKind */.eV)(data);
        if (what === undefined)
            return [];
        return [
            {
                path,
                message: `looks like ${what}: never put secrets in the runbook; store it in a secret and name its environment variable (e.g. token-env, url-env)`
            }
        ];
    }
    if (Array.isArray(data))
        return data.flatMap((item, i) => findSecretValues(item, [...path, i]));
    if (!data || typeof data !== 'object')
        return [];
    return Object.entries(data).flatMap(([key, value]) => {
        const here = [...path, key];
        const keyKind = (0,credentials/* credentialKind */.eV)(key);
        if (keyKind !== undefined) {
            return [
                { path: here, key, message: `this key looks like ${keyKind}: remove it from the runbook` }
            ];
        }
        if (path.length === 2 &&
            path[0] === 'flags' &&
            path[1] === 'set' &&
            (0,credentials/* looksLikeCredentialName */.qN)(key)) {
            return [
                {
                    path: here,
                    key,
                    message: `"${key}" looks like a credential: flags only flip non-secret settings; manage secrets on the platform`
                }
            ];
        }
        return findSecretValues(value, here);
    });
}

;// CONCATENATED MODULE: ./src/runbook/validate.ts
/**
 * Validates runbook data (already parsed from YAML): the generated schema validator, which also
 * fills in defaults, the duration bounds, the rules across fields, and the scan for pasted
 * secrets. Returns every
 * problem, or the typed runbook.
 */





/**
 * Schema errors described one by one; beyond this they are only counted (a file of thousands of
 * unknown keys is one mistake, and describing each costs time nobody reads).
 */
const MAX_DESCRIBED_ERRORS = 1000;
/**
 * A copy for the validator to fill defaults into, with nothing shared: a YAML alias makes two
 * places one object, and defaults filled for one would land in the other. Keys that would reach
 * an object's prototype and self-referencing aliases are problems, not data.
 */
function treeCopy(value, path, problems, open = new Set()) {
    if (typeof value === 'string' && value.includes('\0')) {
        problems.push({ path, message: 'contains a NUL character (\\0): remove it' });
        return value;
    }
    if (typeof value !== 'object' || value === null)
        return value;
    if (open.has(value)) {
        problems.push({ path, message: 'refers to itself through a YAML alias' });
        return null;
    }
    open.add(value);
    let copy;
    if (Array.isArray(value)) {
        copy = value.map((item, i) => treeCopy(item, [...path, i], problems, open));
    }
    else {
        const entries = [];
        for (const [key, item] of Object.entries(value)) {
            if (key === '__proto__') {
                problems.push({
                    path: [...path, key],
                    key,
                    message: 'a key named __proto__ is not allowed'
                });
            }
            // fromEntries defines own properties: a "__proto__" entry stays a key, never a prototype.
            entries.push([key, treeCopy(item, [...path, key], problems, open)]);
        }
        copy = Object.fromEntries(entries);
    }
    open.delete(value);
    return copy;
}
function validateRunbook(data) {
    const problems = [];
    const copy = treeCopy(data, [], problems);
    const check = validate_generated/* validate */.tf;
    // concat, not push(...): a runbook with very many problems must not overflow the stack.
    let all = problems;
    const errors = check(copy) ? [] : (check.errors ?? []);
    all = all.concat(schemaProblems(errors.slice(0, MAX_DESCRIBED_ERRORS), copy));
    if (typeof copy === 'object' && copy !== null && !Array.isArray(copy)) {
        all = all.concat(ruleProblems(copy));
    }
    all = all.concat(durationProblems(copy), findSecretValues(copy));
    const unlisted = Math.max(0, errors.length - MAX_DESCRIBED_ERRORS);
    return all.length + unlisted === 0
        ? { runbook: copy, problems: [] }
        : { problems: all, unlisted };
}
/** For code that builds runbooks itself (tests, benchmarks): the runbook, or an error listing why not. */
function runbookFrom(data) {
    const result = validateRunbook(data);
    if ('runbook' in result)
        return result.runbook;
    throw new Error(`invalid runbook:\n${result.problems.map(p => `${p.path.join('.')}: ${p.message}`).join('\n')}`);
}

;// CONCATENATED MODULE: ./src/runbook/load.ts
/**
 * Loads a runbook: file checks -> YAML (with positions) -> validation (schema, rules, secret scan).
 * Every problem is reported as `file:line:col: key.path: what is expected`, all at once (the first
 * few printed), before anything runs. Any input is handled in bounded time and memory: the file
 * size is capped, anything but a regular UTF-8 file is refused, nesting and aliases are limited,
 * and positions are looked up through an index (linear in the number of problems).
 */





/** A runbook is a few kilobytes; this is far above any real one and far below harm. */
const MAX_RUNBOOK_BYTES = 1024 * 1024;
/** Deeper than any runbook needs; parsing deeper input would exhaust the stack. */
const MAX_NESTING = 64;
/** Aliases a runbook may use; more is how an alias bomb looks. */
const MAX_ALIASES = 100;
/** Problems printed; the rest are counted ("and N more"). */
const MAX_PRINTED_PROBLEMS = 20;
/** Longest key or path echoed in a message. */
const MAX_ECHO = 80;
function formatProblem(p) {
    return `${p.file}:${p.line}:${p.col}: ${p.path || '(top level)'}: ${p.message}`;
}
function shown(text) {
    const hidden = (0,credentials/* hideCredentials */.RW)(text);
    return hidden.length > MAX_ECHO * 2 ? `${hidden.slice(0, MAX_ECHO * 2)}…` : hidden;
}
class RunbookError extends Error {
    /** The problems printed (a credential-looking key or value is never repeated). */
    problems;
    /** How many problems there were in all. */
    total;
    /** `unlisted`: more problems, counted but not described. */
    constructor(problems, unlisted = 0) {
        const printed = problems
            .slice(0, MAX_PRINTED_PROBLEMS)
            .map(p => ({ ...p, path: shown(p.path), message: shown(p.message) }));
        const more = problems.length - printed.length + unlisted;
        super([...printed.map(formatProblem), ...(more > 0 ? [`and ${more} more problem(s)`] : [])].join('\n'));
        this.name = 'RunbookError';
        this.problems = printed;
        this.total = problems.length + unlisted;
    }
}
function fileProblem(file, message) {
    return new RunbookError([{ file, line: 1, col: 1, path: '', message }]);
}
async function loadRunbook(file) {
    return parseRunbook(await readRunbookText(file), file);
}
/**
 * The file's text. Opened without blocking (a FIFO would wait for a writer forever), then
 * refused unless it is a regular file of bounded size holding valid UTF-8.
 */
async function readRunbookText(file) {
    let handle;
    try {
        handle = await (0,promises_.open)(file, external_node_fs_.constants.O_RDONLY | external_node_fs_.constants.O_NONBLOCK);
    }
    catch (err) {
        const code = err.code;
        const reason = code === 'ENOENT' ? 'file not found' : `cannot open the file (${code ?? 'error'})`;
        throw fileProblem(file, `${reason}: set the runbook input/--runbook to your runbook (default .github/rollback.yml)`);
    }
    try {
        const stat = await handle.stat();
        if (!stat.isFile()) {
            throw fileProblem(file, 'not a regular file: point the runbook input/--runbook at a YAML file');
        }
        if (stat.size > MAX_RUNBOOK_BYTES) {
            throw fileProblem(file, `the file is larger than ${MAX_RUNBOOK_BYTES / 1024} KiB: a runbook is a short YAML file; check the path`);
        }
        // Read at most one byte past the cap: the file may have grown since stat.
        const buffer = Buffer.alloc(MAX_RUNBOOK_BYTES + 1);
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
        if (bytesRead > MAX_RUNBOOK_BYTES) {
            throw fileProblem(file, `the file is larger than ${MAX_RUNBOOK_BYTES / 1024} KiB`);
        }
        return decodeUtf8(buffer.subarray(0, bytesRead), file);
    }
    finally {
        await handle.close();
    }
}
function decodeUtf8(bytes, file) {
    try {
        return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    }
    catch {
        const text = new TextDecoder('utf-8').decode(bytes);
        const at = text.indexOf('\uFFFD');
        const before = text.slice(0, Math.max(at, 0));
        const line = before.split('\n').length;
        const col = before.length - before.lastIndexOf('\n');
        throw new RunbookError([
            { file, line, col, path: '', message: 'not valid UTF-8 text: save the runbook as UTF-8' }
        ]);
    }
}
function parseRunbook(text, file) {
    const lineCounter = new dist/* LineCounter */.HN();
    const nul = text.indexOf('\0');
    if (nul >= 0) {
        throw new RunbookError([
            {
                file,
                ...positionOf(text, nul),
                path: '',
                message: 'contains a NUL character: remove it (a runbook is plain text)'
            }
        ]);
    }
    // Duplicate keys are found below in one pass: the library's own check is quadratic.
    const doc = (0,dist/* parseDocument */.Tp)(text, { lineCounter, prettyErrors: false, uniqueKeys: false });
    const structure = structureProblems(doc.contents);
    if ('tooDeep' in structure) {
        throw new RunbookError([
            {
                file,
                ...lineCounter.linePos(structure.tooDeep.range?.[0] ?? 0),
                path: '',
                message: `nested deeper than ${MAX_NESTING} levels: a runbook is a shallow YAML mapping`
            }
        ]);
    }
    const syntax = doc.errors.map(err => {
        const at = pathAt(doc.contents, err.pos[0]);
        return {
            file,
            ...lineCounter.linePos(err.pos[0]),
            path: dotted(at),
            message: `invalid YAML: ${err.message.split('\n')[0]}`
        };
    });
    const duplicates = structure.duplicates.map(({ key, path }) => ({
        file,
        ...lineCounter.linePos(key.range?.[0] ?? 0),
        path: dotted(path),
        message: `duplicate key "${String(path.at(-1))}": write each key once per mapping`
    }));
    if (syntax.length + duplicates.length > 0) {
        throw new RunbookError([...syntax, ...duplicates].sort((a, b) => a.line - b.line || a.col - b.col));
    }
    const data = toData(doc, lineCounter, file);
    if (data === null || typeof data !== 'object' || Array.isArray(data)) {
        throw fileProblem(file, 'a runbook is a YAML mapping (version: 1, name: ...)');
    }
    const result = validateRunbook(data);
    const index = new KeyIndex(doc);
    const problems = result.problems.map((p) => ({
        file,
        ...lineCounter.linePos(p.key !== undefined ? index.offset(p.path.slice(0, -1), p.key) : index.offset(p.path)),
        path: dotted(p.path),
        message: p.message
    }));
    if (!('runbook' in result)) {
        problems.sort((a, b) => a.line - b.line || a.col - b.col);
        throw new RunbookError(problems, result.unlisted);
    }
    return result.runbook;
}
function positionOf(text, offset) {
    const before = text.slice(0, offset);
    return { line: before.split('\n').length, col: offset - before.lastIndexOf('\n') };
}
/** The YAML as plain data; unresolved aliases and alias bombs are problems at the alias. */
function toData(doc, lineCounter, file) {
    try {
        return doc.toJS({ maxAliasCount: MAX_ALIASES });
    }
    catch (err) {
        const alias = firstAlias(doc.contents);
        const unresolved = /unresolved alias/i.test(err.message);
        throw new RunbookError([
            {
                file,
                ...lineCounter.linePos(alias?.range?.[0] ?? 0),
                path: '',
                message: unresolved
                    ? 'an alias (*name) refers to no anchor (&name) defined before it: define the anchor first'
                    : `the YAML aliases expand too far (more than ${MAX_ALIASES} copies): write the values out`
            }
        ]);
    }
}
/**
 * The first node nested deeper than MAX_NESTING, or else every repeated key of a mapping.
 * Iterative, so deep input cannot overflow the stack.
 */
function structureProblems(root) {
    const duplicates = [];
    const stack = [[root, []]];
    while (stack.length > 0) {
        const [node, path] = stack.pop();
        if (path.length > MAX_NESTING)
            return { tooDeep: node };
        if ((0,dist/* isMap */.jh)(node)) {
            const seen = new Set();
            for (const pair of node.items) {
                const key = (0,dist/* isScalar */.jn)(pair.key) ? String(pair.key.value) : '?';
                if ((0,dist/* isScalar */.jn)(pair.key) && seen.has(key))
                    duplicates.push({ key: pair.key, path: [...path, key] });
                seen.add(key);
                stack.push([pair.key, [...path, key]], [pair.value, [...path, key]]);
            }
        }
        else if ((0,dist/* isSeq */.oP)(node)) {
            node.items.forEach((item, i) => stack.push([item, [...path, i]]));
        }
    }
    return { duplicates };
}
/** The first alias (unresolved or bomb: the place to look). Nesting is bounded by now. */
function firstAlias(node) {
    if ((0,dist/* isAlias */.Vj)(node))
        return node;
    if ((0,dist/* isMap */.jh)(node)) {
        for (const pair of node.items) {
            const found = firstAlias(pair.key) ?? firstAlias(pair.value);
            if (found)
                return found;
        }
    }
    else if ((0,dist/* isSeq */.oP)(node)) {
        for (const item of node.items) {
            const found = firstAlias(item);
            if (found)
                return found;
        }
    }
    return undefined;
}
/** Key path of the innermost key or value at `offset` (YAML errors carry only an offset). */
function pathAt(node, offset, path = []) {
    const within = (n) => {
        const range = n?.range;
        return range != null && range[0] <= offset && offset < range[2];
    };
    if ((0,dist/* isMap */.jh)(node)) {
        for (const pair of node.items) {
            const key = (0,dist/* isScalar */.jn)(pair.key) ? String(pair.key.value) : '?';
            if (within(pair.key))
                return [...path, key];
            if (within(pair.value))
                return pathAt(pair.value, offset, [...path, key]);
        }
    }
    else if ((0,dist/* isSeq */.oP)(node)) {
        const index = node.items.findIndex(within);
        if (index >= 0)
            return pathAt(node.items[index], offset, [...path, index]);
    }
    return path;
}
/**
 * Offsets of keys and values by path. Each mapping is indexed once, on first use, so looking up
 * every problem of a runbook with many bad keys stays linear.
 */
class KeyIndex {
    doc;
    maps = new Map();
    constructor(doc) {
        this.doc = doc;
    }
    pairs(map) {
        let pairs = this.maps.get(map);
        if (!pairs) {
            pairs = new Map();
            if ((0,dist/* isMap */.jh)(map)) {
                for (const item of map.items) {
                    if ((0,dist/* isScalar */.jn)(item.key) && !pairs.has(String(item.key.value))) {
                        pairs.set(String(item.key.value), { key: item.key, value: item.value });
                    }
                }
            }
            this.maps.set(map, pairs);
        }
        return pairs;
    }
    resolve(node) {
        return (0,dist/* isAlias */.Vj)(node) ? node.resolve(this.doc) : node;
    }
    /**
     * Offset of the deepest node that exists along `path`: the key itself for unknown keys, the
     * key of a missing or wrong value when that key exists.
     */
    offset(path, key) {
        // `raw` is what stands at the place (an alias points at itself); `node` is what it means.
        let raw = this.doc.contents;
        let node = this.resolve(raw);
        for (const step of path) {
            const here = raw?.range?.[0] ?? 0;
            if ((0,dist/* isMap */.jh)(node)) {
                const pair = this.pairs(node).get(String(step));
                if (!pair)
                    return here;
                raw = pair.value;
                // The value is missing: point at its key.
                if (!raw)
                    return pair.key.range?.[0] ?? here;
            }
            else if ((0,dist/* isSeq */.oP)(node) && typeof step === 'number') {
                raw = node.items[step];
                if (!raw)
                    return here;
            }
            else {
                return here;
            }
            node = this.resolve(raw);
        }
        if (key !== undefined && (0,dist/* isMap */.jh)(node)) {
            const keyNode = this.pairs(node).get(key)?.key;
            if (keyNode?.range)
                return keyNode.range[0];
        }
        return raw?.range?.[0] ?? 0;
    }
}
function dotted(path) {
    return path
        .map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`))
        .join('');
}


/***/ }),

/***/ 9659:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {

/* harmony export */ __nccwpck_require__.d(__webpack_exports__, {
/* harmony export */   I0: () => (/* binding */ valuesAt),
/* harmony export */   Wu: () => (/* binding */ markedFields)
/* harmony export */ });
/* unused harmony export EACH */
/* harmony import */ var _validate_generated_js__WEBPACK_IMPORTED_MODULE_0__ = __nccwpck_require__(7583);
/**
 * Fields of the runbook's JSON Schema that carry a marker keyword (`x-secret`, `x-duration`), and
 * the values a runbook holds at those fields. What is marked in the schema is what the code acts
 * on: no second list of field names to keep in step.
 */

/** Stands for every item of an array or every value of a record in a field path. */
const EACH = '*';
/** Deeper than any runbook field; stops a self-referencing schema. */
const MAX_SCHEMA_DEPTH = 32;
function resolveRef(root, ref) {
    if (!ref.startsWith('#/'))
        return undefined;
    let node = root;
    for (const segment of ref.slice(2).split('/')) {
        node = node?.[segment.replace(/~1/g, '/').replace(/~0/g, '~')];
    }
    return node;
}
function children(node) {
    const out = [];
    for (const [key, child] of Object.entries(node.properties ?? {}))
        out.push([key, child]);
    const items = Array.isArray(node.items) ? node.items : node.items ? [node.items] : [];
    for (const child of items)
        out.push([EACH, child]);
    if (typeof node.additionalProperties === 'object')
        out.push([EACH, node.additionalProperties]);
    // Alternatives (a union such as hosting on provider) describe the same place.
    for (const child of [...(node.anyOf ?? []), ...(node.oneOf ?? []), ...(node.allOf ?? [])]) {
        out.push([undefined, child]);
    }
    return out;
}
/** Every field whose schema has `keyword`, with the keyword's value. */
function markedFields(keyword, schema = _validate_generated_js__WEBPACK_IMPORTED_MODULE_0__/* .runbookJsonSchema */ .Ym) {
    const found = new Map();
    const visit = (node, path, depth) => {
        if (depth > MAX_SCHEMA_DEPTH)
            return;
        const target = node.$ref ? resolveRef(schema, node.$ref) : node;
        if (!target)
            return;
        if (target[keyword] !== undefined) {
            found.set(JSON.stringify(path), { path, mark: target[keyword] });
        }
        for (const [key, child] of children(target)) {
            visit(child, key === undefined ? path : [...path, key], depth + 1);
        }
    };
    visit(schema, [], 0);
    return [...found.values()];
}
/** The values `data` holds at a field path (several when the path passes through EACH). */
function valuesAt(data, path) {
    let current = [{ path: [], value: data }];
    for (const key of path) {
        const next = [];
        for (const { path: at, value } of current) {
            if (typeof value !== 'object' || value === null)
                continue;
            if (key !== EACH) {
                if (!Array.isArray(value) && Object.hasOwn(value, key)) {
                    next.push({ path: [...at, key], value: value[key] });
                }
            }
            else if (Array.isArray(value)) {
                value.forEach((item, i) => next.push({ path: [...at, i], value: item }));
            }
            else {
                for (const [k, item] of Object.entries(value))
                    next.push({ path: [...at, k], value: item });
            }
        }
        current = next;
    }
    return current;
}


/***/ }),

/***/ 7583:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {

/* harmony export */ __nccwpck_require__.d(__webpack_exports__, {
/* harmony export */   Ym: () => (/* binding */ runbookJsonSchema),
/* harmony export */   tf: () => (/* binding */ validate)
/* harmony export */ });
// @ts-nocheck
/* eslint-disable */
// Generated by `npm run schema` from schema/runbook.schema.json (ajv standalone). Do not edit.

const validate = validate20;
/* unused harmony default export */ var __WEBPACK_DEFAULT_EXPORT__ = ((/* unused pure expression or super */ null && (validate20)));
const schema31 = { "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "properties": { "version": { "type": "number", "const": 1, "description": "Runbook format version." }, "name": { "type": "string", "minLength": 1, "description": "What this runbook rolls back." }, "description": { "type": "string" }, "severity": { "default": {}, "description": "Decision matrix overrides; unspecified severities keep the seed defaults.", "type": "object", "properties": { "critical": { "type": "object", "properties": { "phases": { "type": "array", "items": { "type": "string", "enum": ["flags", "verify", "database", "git", "schema", "integrity", "files", "monitor", "notify"] }, "description": "Phases this severity runs, in runbook order." }, "mutate": { "default": true, "description": "false: investigate only (plan, read-only checks), even for command run.", "type": "boolean" }, "environment": { "description": "GitHub Environment (with required reviewers) that the workflow must run in.", "type": "string" }, "description": { "type": "string" } }, "required": ["phases"], "additionalProperties": false }, "high": { "type": "object", "properties": { "phases": { "type": "array", "items": { "type": "string", "enum": ["flags", "verify", "database", "git", "schema", "integrity", "files", "monitor", "notify"] }, "description": "Phases this severity runs, in runbook order." }, "mutate": { "default": true, "description": "false: investigate only (plan, read-only checks), even for command run.", "type": "boolean" }, "environment": { "description": "GitHub Environment (with required reviewers) that the workflow must run in.", "type": "string" }, "description": { "type": "string" } }, "required": ["phases"], "additionalProperties": false }, "medium": { "type": "object", "properties": { "phases": { "type": "array", "items": { "type": "string", "enum": ["flags", "verify", "database", "git", "schema", "integrity", "files", "monitor", "notify"] }, "description": "Phases this severity runs, in runbook order." }, "mutate": { "default": true, "description": "false: investigate only (plan, read-only checks), even for command run.", "type": "boolean" }, "environment": { "description": "GitHub Environment (with required reviewers) that the workflow must run in.", "type": "string" }, "description": { "type": "string" } }, "required": ["phases"], "additionalProperties": false }, "low": { "type": "object", "properties": { "phases": { "type": "array", "items": { "type": "string", "enum": ["flags", "verify", "database", "git", "schema", "integrity", "files", "monitor", "notify"] }, "description": "Phases this severity runs, in runbook order." }, "mutate": { "default": true, "description": "false: investigate only (plan, read-only checks), even for command run.", "type": "boolean" }, "environment": { "description": "GitHub Environment (with required reviewers) that the workflow must run in.", "type": "string" }, "description": { "type": "string" } }, "required": ["phases"], "additionalProperties": false } }, "additionalProperties": false }, "hosting": { "type": "object", "properties": { "provider": { "type": "string", "enum": ["vercel", "github-variables"], "description": "Hosting platform whose API flips the flags: vercel (project env + redeploy), or github-variables (repository Actions variables + dispatch of the deploy workflow)." }, "project": { "type": "string", "minLength": 1, "description": "Project id or name (vercel); owner/repo (github-variables)." }, "team": { "description": "Vercel team id (team_...) for team projects.", "type": "string" }, "token-env": { "default": "VERCEL_TOKEN", "type": "string", "pattern": "^[A-Z_][A-Z0-9_]*$", "x-expected": "an environment variable NAME (upper case, digits, _)", "description": "Name of the environment variable that holds the value (never the value itself).", "x-secret": true }, "api-url": { "description": "API base URL; defaults to the provider (tests use a stand-in).", "type": "string", "pattern": "^https?:\\/\\/[^\\s]+$", "x-expected": "an http(s):// URL" }, "workflow": { "description": "github-variables: the deploy workflow dispatched after the variables change.", "type": "string", "pattern": "^[A-Za-z0-9._-]+$", "x-expected": "a workflow file name such as deploy.yml, or its id" }, "ref": { "default": "main", "description": "github-variables: branch the deploy workflow runs on.", "type": "string", "pattern": "^(?!-)(?!.*\\.\\.)[A-Za-z0-9._/-]*[A-Za-z0-9._-]$", "x-expected": "a branch name (letters, digits, . _ / -; no \"..\", no leading \"-\" or trailing \"/\")" } }, "required": ["provider", "project"], "additionalProperties": false }, "flags": { "type": "object", "properties": { "set": { "type": "object", "propertyNames": { "type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$", "x-expected": "an environment variable name" }, "additionalProperties": { "type": "string" }, "description": "Variables to set, e.g. NEXT_PUBLIC_USE_STREAMING: \"false\"." }, "targets": { "default": ["production"], "minItems": 1, "type": "array", "items": { "type": "string", "enum": ["production", "preview", "development"] } }, "redeploy": { "default": true, "description": "Redeploy so the new values are built in (NEXT_PUBLIC_* always needs it).", "type": "boolean" }, "wait-timeout": { "default": "15m", "type": "string", "pattern": "^\\d+(ms|s|m|h)$", "x-expected": "a duration such as \"500ms\", \"30s\", \"5m\" or \"1h\"", "x-duration": { "min": "10s", "max": "2h" }, "description": "Duration: a whole number followed by ms, s, m or h; from 10s to 2h." } }, "required": ["set"], "additionalProperties": false }, "verify": { "type": "object", "properties": { "checks": { "default": [], "type": "array", "items": { "type": "object", "properties": { "name": { "type": "string", "minLength": 1 }, "url": { "type": "string", "pattern": "^https?:\\/\\/[^\\s]+$", "x-expected": "an http(s):// URL" }, "expect-status": { "default": 200, "type": "integer", "minimum": 100, "maximum": 599 }, "expect-text": { "description": "Text the response body must contain.", "type": "string" }, "reject-text": { "description": "Text the response body must not contain.", "type": "string" }, "timeout": { "default": "5m", "type": "string", "pattern": "^\\d+(ms|s|m|h)$", "x-expected": "a duration such as \"500ms\", \"30s\", \"5m\" or \"1h\"", "x-duration": { "min": "1s", "max": "1h" }, "description": "Duration: a whole number followed by ms, s, m or h; from 1s to 1h." }, "interval": { "default": "10s", "type": "string", "pattern": "^\\d+(ms|s|m|h)$", "x-expected": "a duration such as \"500ms\", \"30s\", \"5m\" or \"1h\"", "x-duration": { "min": "100ms", "max": "10m" }, "description": "Duration: a whole number followed by ms, s, m or h; from 100ms to 10m." } }, "required": ["name", "url"], "additionalProperties": false } }, "smoke": { "description": "A shell command that must exit 0 (e.g. an end-to-end smoke test).", "type": "object", "properties": { "run": { "type": "string", "minLength": 1 }, "timeout": { "default": "5m", "type": "string", "pattern": "^\\d+(ms|s|m|h)$", "x-expected": "a duration such as \"500ms\", \"30s\", \"5m\" or \"1h\"", "x-duration": { "min": "1s", "max": "2h" }, "description": "Duration: a whole number followed by ms, s, m or h; from 1s to 2h." } }, "required": ["run"], "additionalProperties": false } }, "additionalProperties": false }, "database": { "type": "object", "properties": { "url-env": { "default": "DATABASE_URL", "type": "string", "pattern": "^[A-Z_][A-Z0-9_]*$", "x-expected": "an environment variable NAME (upper case, digits, _)", "description": "Name of the environment variable that holds the value (never the value itself).", "x-secret": true }, "lock-timeout": { "default": "500ms", "type": "string", "pattern": "^\\d+(ms|s|m|h)$", "x-expected": "a duration such as \"500ms\", \"30s\", \"5m\" or \"1h\"", "x-duration": { "min": "10ms", "max": "1m" }, "description": "Duration: a whole number followed by ms, s, m or h; from 10ms to 1m." }, "statement-timeout": { "default": "5m", "type": "string", "pattern": "^\\d+(ms|s|m|h)$", "x-expected": "a duration such as \"500ms\", \"30s\", \"5m\" or \"1h\"", "x-duration": { "min": "100ms", "max": "6h" }, "description": "Duration: a whole number followed by ms, s, m or h; from 100ms to 6h." }, "lock-retries": { "default": 8, "type": "integer", "minimum": 0, "maximum": 50 }, "steps": { "default": [], "type": "array", "items": { "type": "object", "properties": { "name": { "type": "string", "minLength": 1 }, "batch-update": { "description": "A big UPDATE done in primary-key batches.", "type": "object", "properties": { "table": { "type": "string", "pattern": "^[a-z_][a-z0-9_$]*(\\.[a-z_][a-z0-9_$]*)?$", "x-expected": "a lower-case SQL identifier, optionally schema-qualified (schema.name)" }, "key": { "default": "id", "description": "Integer primary key used to walk the table in ranges.", "type": "string", "pattern": "^[a-z_][a-z0-9_$]*(\\.[a-z_][a-z0-9_$]*)?$", "x-expected": "a lower-case SQL identifier, optionally schema-qualified (schema.name)" }, "set": { "type": "object", "propertyNames": { "type": "string", "pattern": "^[a-z_][a-z0-9_$]*(\\.[a-z_][a-z0-9_$]*)?$", "x-expected": "a lower-case SQL identifier, optionally schema-qualified (schema.name)" }, "additionalProperties": { "type": "string" }, "description": "column: SQL expression." }, "where": { "type": "string", "minLength": 1, "description": "Condition, re-checked in every batch." }, "batch-size": { "default": 5000, "type": "integer", "minimum": 1, "maximum": 100000 }, "pause": { "default": "10ms", "type": "string", "pattern": "^\\d+(ms|s|m|h)$", "x-expected": "a duration such as \"500ms\", \"30s\", \"5m\" or \"1h\"", "x-duration": { "min": "0ms", "max": "1m" }, "description": "Duration: a whole number followed by ms, s, m or h; from 0ms to 1m." }, "max-duration": { "default": "10m", "type": "string", "pattern": "^\\d+(ms|s|m|h)$", "x-expected": "a duration such as \"500ms\", \"30s\", \"5m\" or \"1h\"", "x-duration": { "min": "1s", "max": "24h" }, "description": "Duration: a whole number followed by ms, s, m or h; from 1s to 24h." } }, "required": ["table", "set", "where"], "additionalProperties": false }, "drop-index": { "description": "Dropped with DROP INDEX CONCURRENTLY IF EXISTS.", "type": "string", "pattern": "^[a-z_][a-z0-9_$]*(\\.[a-z_][a-z0-9_$]*)?$", "x-expected": "a lower-case SQL identifier, optionally schema-qualified (schema.name)" }, "sql": { "description": "SQL, split and classified by the PostgreSQL parser.", "type": "string", "minLength": 1 }, "acknowledge-data-loss": { "description": "true: this sql step destroys data without a backup (TRUNCATE, DROP TABLE, DROP COLUMN ...) and that is intended; run refuses such SQL without it.", "type": "boolean" } }, "required": ["name"], "additionalProperties": false } } }, "additionalProperties": false }, "git": { "type": "object", "properties": { "remote": { "default": "origin", "type": "string" }, "branch": { "default": "main", "type": "string", "pattern": "^(?!-)(?!.*\\.\\.)[A-Za-z0-9._/-]*[A-Za-z0-9._-]$", "x-expected": "a branch name (letters, digits, . _ / -; no \"..\", no leading \"-\" or trailing \"/\")" }, "strategy": { "default": "revert", "type": "string", "enum": ["revert", "reset"] }, "revert": { "description": "Commits to revert: a range A..B or SHAs separated by spaces or commas.", "type": "string" }, "reset-to": { "description": "Known-good SHA for the reset strategy.", "type": "string" }, "revert-mode": { "default": "single", "type": "string", "enum": ["single", "per-commit"] }, "mainline": { "description": "Parent number for reverting merge commits (usually 1).", "type": "integer", "minimum": 1, "maximum": 9007199254740991 }, "backup-ref-prefix": { "default": "refs/rollback/backup", "type": "string" } }, "additionalProperties": false }, "schema": { "type": "array", "items": { "type": "object", "properties": { "table": { "type": "string", "pattern": "^[a-z_][a-z0-9_$]*(\\.[a-z_][a-z0-9_$]*)?$", "x-expected": "a lower-case SQL identifier, optionally schema-qualified (schema.name)" }, "key": { "default": "id", "type": "string", "pattern": "^[a-z_][a-z0-9_$]*(\\.[a-z_][a-z0-9_$]*)?$", "x-expected": "a lower-case SQL identifier, optionally schema-qualified (schema.name)" }, "drop-columns": { "default": [], "type": "array", "items": { "type": "string", "pattern": "^[a-z_][a-z0-9_$]*(\\.[a-z_][a-z0-9_$]*)?$", "x-expected": "a lower-case SQL identifier, optionally schema-qualified (schema.name)" } }, "drop-indexes": { "default": [], "type": "array", "items": { "type": "string", "pattern": "^[a-z_][a-z0-9_$]*(\\.[a-z_][a-z0-9_$]*)?$", "x-expected": "a lower-case SQL identifier, optionally schema-qualified (schema.name)" } }, "backup-table": { "description": "Where dropped column data is copied first.", "type": "string", "pattern": "^[a-z_][a-z0-9_$]*(\\.[a-z_][a-z0-9_$]*)?$", "x-expected": "a lower-case SQL identifier, optionally schema-qualified (schema.name)" } }, "required": ["table"], "additionalProperties": false } }, "integrity": { "type": "array", "items": { "type": "object", "properties": { "name": { "type": "string", "minLength": 1 }, "sql": { "type": "string", "minLength": 1 }, "expect": { "type": "object", "properties": { "rows": { "description": "Exact number of rows returned.", "type": "integer", "minimum": 0, "maximum": 9007199254740991 }, "max-rows": { "type": "integer", "minimum": 0, "maximum": 9007199254740991 }, "value": { "description": "First column of the first row.", "type": ["string", "number", "boolean"] } }, "additionalProperties": false }, "when": { "default": ["before", "after"], "minItems": 1, "type": "array", "items": { "type": "string", "enum": ["before", "after"] } }, "on-fail": { "default": "fail", "type": "string", "enum": ["fail", "warn"] } }, "required": ["name", "sql", "expect"], "additionalProperties": false } }, "files": { "type": "object", "properties": { "protect": { "default": [], "description": "Paths that must exist after rollback.", "type": "array", "items": { "type": "string", "minLength": 1 } }, "remove": { "default": [], "description": "Paths removed (in a commit) if present.", "type": "array", "items": { "type": "string", "minLength": 1 } } }, "additionalProperties": false }, "monitor": { "type": "object", "properties": { "duration": { "default": "5m", "type": "string", "pattern": "^\\d+(ms|s|m|h)$", "x-expected": "a duration such as \"500ms\", \"30s\", \"5m\" or \"1h\"", "x-duration": { "min": "1s", "max": "24h" }, "description": "Duration: a whole number followed by ms, s, m or h; from 1s to 24h." }, "interval": { "default": "30s", "type": "string", "pattern": "^\\d+(ms|s|m|h)$", "x-expected": "a duration such as \"500ms\", \"30s\", \"5m\" or \"1h\"", "x-duration": { "min": "1s", "max": "1h" }, "description": "Duration: a whole number followed by ms, s, m or h; from 1s to 1h." }, "health": { "default": [], "type": "array", "items": { "type": "object", "properties": { "name": { "type": "string", "minLength": 1 }, "url": { "type": "string", "pattern": "^https?:\\/\\/[^\\s]+$", "x-expected": "an http(s):// URL" }, "expect-status": { "default": 200, "type": "integer", "minimum": 100, "maximum": 599 }, "expect-text": { "description": "Text the response body must contain.", "type": "string" }, "reject-text": { "description": "Text the response body must not contain.", "type": "string" }, "timeout": { "default": "5m", "type": "string", "pattern": "^\\d+(ms|s|m|h)$", "x-expected": "a duration such as \"500ms\", \"30s\", \"5m\" or \"1h\"", "x-duration": { "min": "1s", "max": "1h" }, "description": "Duration: a whole number followed by ms, s, m or h; from 1s to 1h." }, "interval": { "default": "10s", "type": "string", "pattern": "^\\d+(ms|s|m|h)$", "x-expected": "a duration such as \"500ms\", \"30s\", \"5m\" or \"1h\"", "x-duration": { "min": "100ms", "max": "10m" }, "description": "Duration: a whole number followed by ms, s, m or h; from 100ms to 10m." } }, "required": ["name", "url"], "additionalProperties": false } }, "metrics": { "default": [], "type": "array", "items": { "type": "object", "properties": { "name": { "type": "string", "minLength": 1 }, "sql": { "type": "string", "minLength": 1, "description": "Returns one numeric value." }, "max": { "type": "number" }, "min": { "type": "number" } }, "required": ["name", "sql"], "additionalProperties": false } }, "max-error-rate": { "default": 0.1, "description": "Fraction of failed health probes that fails the watch (seed: >10% errors).", "type": "number", "minimum": 0, "maximum": 1 } }, "additionalProperties": false }, "notify": { "type": "object", "properties": { "status-comment": { "default": true, "description": "Comment on the triggering issue/PR.", "type": "boolean" }, "incident-issue": { "type": "object", "properties": { "labels": { "default": ["incident", "rollback"], "type": "array", "items": { "type": "string" } } }, "additionalProperties": false }, "webhook-env": { "description": "Variable holding a webhook URL (e.g. Slack).", "type": "string", "pattern": "^[A-Z_][A-Z0-9_]*$", "x-expected": "an environment variable NAME (upper case, digits, _)", "x-secret": true }, "messages": { "default": { "initiated": "Rollback initiated", "complete": "Rollback complete, system stable", "failed": "Rollback FAILED: manual action needed" }, "type": "object", "properties": { "initiated": { "default": "Rollback initiated", "type": "string" }, "complete": { "default": "Rollback complete, system stable", "type": "string" }, "failed": { "default": "Rollback FAILED: manual action needed", "type": "string" } }, "additionalProperties": false } }, "additionalProperties": false } }, "required": ["version", "name"], "additionalProperties": false, "$id": "https://github.com/emergency-rollback/emergency-rollback/schema/runbook.schema.json", "title": "emergency-rollback runbook (version 1)" };
const func1 = Object.prototype.hasOwnProperty;
const func2 = ((s) => { let n = 0; for (const _ of s)
    n++; return n; });
const pattern4 = new RegExp("^[A-Z_][A-Z0-9_]*$", "u");
const pattern5 = new RegExp("^https?:\\/\\/[^\\s]+$", "u");
const pattern6 = new RegExp("^[A-Za-z0-9._-]+$", "u");
const pattern7 = new RegExp("^(?!-)(?!.*\\.\\.)[A-Za-z0-9._/-]*[A-Za-z0-9._-]$", "u");
const pattern8 = new RegExp("^[A-Za-z_][A-Za-z0-9_]*$", "u");
const pattern9 = new RegExp("^\\d+(ms|s|m|h)$", "u");
const pattern17 = new RegExp("^[a-z_][a-z0-9_$]*(\\.[a-z_][a-z0-9_$]*)?$", "u");
function validate20(data, { instancePath = "", parentData, parentDataProperty, rootData = data, dynamicAnchors = {} } = {}) { /*# sourceURL="https://github.com/emergency-rollback/emergency-rollback/schema/runbook.schema.json" */ ; let vErrors = null; let errors = 0; const evaluated0 = validate20.evaluated; if (evaluated0.dynamicProps) {
    evaluated0.props = undefined;
} if (evaluated0.dynamicItems) {
    evaluated0.items = undefined;
} if (data && typeof data == "object" && !Array.isArray(data)) {
    if (data.severity === undefined) {
        data.severity = {};
    }
    if (data.version === undefined) {
        const err0 = { instancePath, schemaPath: "#/required", keyword: "required", params: { missingProperty: "version" }, message: "must have required property '" + "version" + "'" };
        if (vErrors === null) {
            vErrors = [err0];
        }
        else {
            vErrors.push(err0);
        }
        errors++;
    }
    if (data.name === undefined) {
        const err1 = { instancePath, schemaPath: "#/required", keyword: "required", params: { missingProperty: "name" }, message: "must have required property '" + "name" + "'" };
        if (vErrors === null) {
            vErrors = [err1];
        }
        else {
            vErrors.push(err1);
        }
        errors++;
    }
    for (const key0 in data) {
        if (!(func1.call(schema31.properties, key0))) {
            const err2 = { instancePath, schemaPath: "#/additionalProperties", keyword: "additionalProperties", params: { additionalProperty: key0 }, message: "must NOT have additional properties" };
            if (vErrors === null) {
                vErrors = [err2];
            }
            else {
                vErrors.push(err2);
            }
            errors++;
        }
    }
    if (data.version !== undefined) {
        let data0 = data.version;
        if (!((typeof data0 == "number") && (isFinite(data0)))) {
            const err3 = { instancePath: instancePath + "/version", schemaPath: "#/properties/version/type", keyword: "type", params: { type: "number" }, message: "must be number" };
            if (vErrors === null) {
                vErrors = [err3];
            }
            else {
                vErrors.push(err3);
            }
            errors++;
        }
        if (1 !== data0) {
            const err4 = { instancePath: instancePath + "/version", schemaPath: "#/properties/version/const", keyword: "const", params: { allowedValue: 1 }, message: "must be equal to constant" };
            if (vErrors === null) {
                vErrors = [err4];
            }
            else {
                vErrors.push(err4);
            }
            errors++;
        }
    }
    if (data.name !== undefined) {
        let data1 = data.name;
        if (typeof data1 === "string") {
            if (func2(data1) < 1) {
                const err5 = { instancePath: instancePath + "/name", schemaPath: "#/properties/name/minLength", keyword: "minLength", params: { limit: 1 }, message: "must NOT have fewer than 1 characters" };
                if (vErrors === null) {
                    vErrors = [err5];
                }
                else {
                    vErrors.push(err5);
                }
                errors++;
            }
        }
        else {
            const err6 = { instancePath: instancePath + "/name", schemaPath: "#/properties/name/type", keyword: "type", params: { type: "string" }, message: "must be string" };
            if (vErrors === null) {
                vErrors = [err6];
            }
            else {
                vErrors.push(err6);
            }
            errors++;
        }
    }
    if (data.description !== undefined) {
        if (typeof data.description !== "string") {
            const err7 = { instancePath: instancePath + "/description", schemaPath: "#/properties/description/type", keyword: "type", params: { type: "string" }, message: "must be string" };
            if (vErrors === null) {
                vErrors = [err7];
            }
            else {
                vErrors.push(err7);
            }
            errors++;
        }
    }
    let data3 = data.severity;
    if (data3 && typeof data3 == "object" && !Array.isArray(data3)) {
        for (const key1 in data3) {
            if (!((((key1 === "critical") || (key1 === "high")) || (key1 === "medium")) || (key1 === "low"))) {
                const err8 = { instancePath: instancePath + "/severity", schemaPath: "#/properties/severity/additionalProperties", keyword: "additionalProperties", params: { additionalProperty: key1 }, message: "must NOT have additional properties" };
                if (vErrors === null) {
                    vErrors = [err8];
                }
                else {
                    vErrors.push(err8);
                }
                errors++;
            }
        }
        if (data3.critical !== undefined) {
            let data4 = data3.critical;
            if (data4 && typeof data4 == "object" && !Array.isArray(data4)) {
                if (data4.mutate === undefined) {
                    data4.mutate = true;
                }
                if (data4.phases === undefined) {
                    const err9 = { instancePath: instancePath + "/severity/critical", schemaPath: "#/properties/severity/properties/critical/required", keyword: "required", params: { missingProperty: "phases" }, message: "must have required property '" + "phases" + "'" };
                    if (vErrors === null) {
                        vErrors = [err9];
                    }
                    else {
                        vErrors.push(err9);
                    }
                    errors++;
                }
                for (const key2 in data4) {
                    if (!((((key2 === "phases") || (key2 === "mutate")) || (key2 === "environment")) || (key2 === "description"))) {
                        const err10 = { instancePath: instancePath + "/severity/critical", schemaPath: "#/properties/severity/properties/critical/additionalProperties", keyword: "additionalProperties", params: { additionalProperty: key2 }, message: "must NOT have additional properties" };
                        if (vErrors === null) {
                            vErrors = [err10];
                        }
                        else {
                            vErrors.push(err10);
                        }
                        errors++;
                    }
                }
                if (data4.phases !== undefined) {
                    let data5 = data4.phases;
                    if (Array.isArray(data5)) {
                        const len0 = data5.length;
                        for (let i0 = 0; i0 < len0; i0++) {
                            let data6 = data5[i0];
                            if (typeof data6 !== "string") {
                                const err11 = { instancePath: instancePath + "/severity/critical/phases/" + i0, schemaPath: "#/properties/severity/properties/critical/properties/phases/items/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                                if (vErrors === null) {
                                    vErrors = [err11];
                                }
                                else {
                                    vErrors.push(err11);
                                }
                                errors++;
                            }
                            if (!(((((((((data6 === "flags") || (data6 === "verify")) || (data6 === "database")) || (data6 === "git")) || (data6 === "schema")) || (data6 === "integrity")) || (data6 === "files")) || (data6 === "monitor")) || (data6 === "notify"))) {
                                const err12 = { instancePath: instancePath + "/severity/critical/phases/" + i0, schemaPath: "#/properties/severity/properties/critical/properties/phases/items/enum", keyword: "enum", params: { allowedValues: schema31.properties.severity.properties.critical.properties.phases.items.enum }, message: "must be equal to one of the allowed values" };
                                if (vErrors === null) {
                                    vErrors = [err12];
                                }
                                else {
                                    vErrors.push(err12);
                                }
                                errors++;
                            }
                        }
                    }
                    else {
                        const err13 = { instancePath: instancePath + "/severity/critical/phases", schemaPath: "#/properties/severity/properties/critical/properties/phases/type", keyword: "type", params: { type: "array" }, message: "must be array" };
                        if (vErrors === null) {
                            vErrors = [err13];
                        }
                        else {
                            vErrors.push(err13);
                        }
                        errors++;
                    }
                }
                if (typeof data4.mutate !== "boolean") {
                    const err14 = { instancePath: instancePath + "/severity/critical/mutate", schemaPath: "#/properties/severity/properties/critical/properties/mutate/type", keyword: "type", params: { type: "boolean" }, message: "must be boolean" };
                    if (vErrors === null) {
                        vErrors = [err14];
                    }
                    else {
                        vErrors.push(err14);
                    }
                    errors++;
                }
                if (data4.environment !== undefined) {
                    if (typeof data4.environment !== "string") {
                        const err15 = { instancePath: instancePath + "/severity/critical/environment", schemaPath: "#/properties/severity/properties/critical/properties/environment/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                        if (vErrors === null) {
                            vErrors = [err15];
                        }
                        else {
                            vErrors.push(err15);
                        }
                        errors++;
                    }
                }
                if (data4.description !== undefined) {
                    if (typeof data4.description !== "string") {
                        const err16 = { instancePath: instancePath + "/severity/critical/description", schemaPath: "#/properties/severity/properties/critical/properties/description/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                        if (vErrors === null) {
                            vErrors = [err16];
                        }
                        else {
                            vErrors.push(err16);
                        }
                        errors++;
                    }
                }
            }
            else {
                const err17 = { instancePath: instancePath + "/severity/critical", schemaPath: "#/properties/severity/properties/critical/type", keyword: "type", params: { type: "object" }, message: "must be object" };
                if (vErrors === null) {
                    vErrors = [err17];
                }
                else {
                    vErrors.push(err17);
                }
                errors++;
            }
        }
        if (data3.high !== undefined) {
            let data10 = data3.high;
            if (data10 && typeof data10 == "object" && !Array.isArray(data10)) {
                if (data10.mutate === undefined) {
                    data10.mutate = true;
                }
                if (data10.phases === undefined) {
                    const err18 = { instancePath: instancePath + "/severity/high", schemaPath: "#/properties/severity/properties/high/required", keyword: "required", params: { missingProperty: "phases" }, message: "must have required property '" + "phases" + "'" };
                    if (vErrors === null) {
                        vErrors = [err18];
                    }
                    else {
                        vErrors.push(err18);
                    }
                    errors++;
                }
                for (const key3 in data10) {
                    if (!((((key3 === "phases") || (key3 === "mutate")) || (key3 === "environment")) || (key3 === "description"))) {
                        const err19 = { instancePath: instancePath + "/severity/high", schemaPath: "#/properties/severity/properties/high/additionalProperties", keyword: "additionalProperties", params: { additionalProperty: key3 }, message: "must NOT have additional properties" };
                        if (vErrors === null) {
                            vErrors = [err19];
                        }
                        else {
                            vErrors.push(err19);
                        }
                        errors++;
                    }
                }
                if (data10.phases !== undefined) {
                    let data11 = data10.phases;
                    if (Array.isArray(data11)) {
                        const len1 = data11.length;
                        for (let i1 = 0; i1 < len1; i1++) {
                            let data12 = data11[i1];
                            if (typeof data12 !== "string") {
                                const err20 = { instancePath: instancePath + "/severity/high/phases/" + i1, schemaPath: "#/properties/severity/properties/high/properties/phases/items/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                                if (vErrors === null) {
                                    vErrors = [err20];
                                }
                                else {
                                    vErrors.push(err20);
                                }
                                errors++;
                            }
                            if (!(((((((((data12 === "flags") || (data12 === "verify")) || (data12 === "database")) || (data12 === "git")) || (data12 === "schema")) || (data12 === "integrity")) || (data12 === "files")) || (data12 === "monitor")) || (data12 === "notify"))) {
                                const err21 = { instancePath: instancePath + "/severity/high/phases/" + i1, schemaPath: "#/properties/severity/properties/high/properties/phases/items/enum", keyword: "enum", params: { allowedValues: schema31.properties.severity.properties.high.properties.phases.items.enum }, message: "must be equal to one of the allowed values" };
                                if (vErrors === null) {
                                    vErrors = [err21];
                                }
                                else {
                                    vErrors.push(err21);
                                }
                                errors++;
                            }
                        }
                    }
                    else {
                        const err22 = { instancePath: instancePath + "/severity/high/phases", schemaPath: "#/properties/severity/properties/high/properties/phases/type", keyword: "type", params: { type: "array" }, message: "must be array" };
                        if (vErrors === null) {
                            vErrors = [err22];
                        }
                        else {
                            vErrors.push(err22);
                        }
                        errors++;
                    }
                }
                if (typeof data10.mutate !== "boolean") {
                    const err23 = { instancePath: instancePath + "/severity/high/mutate", schemaPath: "#/properties/severity/properties/high/properties/mutate/type", keyword: "type", params: { type: "boolean" }, message: "must be boolean" };
                    if (vErrors === null) {
                        vErrors = [err23];
                    }
                    else {
                        vErrors.push(err23);
                    }
                    errors++;
                }
                if (data10.environment !== undefined) {
                    if (typeof data10.environment !== "string") {
                        const err24 = { instancePath: instancePath + "/severity/high/environment", schemaPath: "#/properties/severity/properties/high/properties/environment/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                        if (vErrors === null) {
                            vErrors = [err24];
                        }
                        else {
                            vErrors.push(err24);
                        }
                        errors++;
                    }
                }
                if (data10.description !== undefined) {
                    if (typeof data10.description !== "string") {
                        const err25 = { instancePath: instancePath + "/severity/high/description", schemaPath: "#/properties/severity/properties/high/properties/description/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                        if (vErrors === null) {
                            vErrors = [err25];
                        }
                        else {
                            vErrors.push(err25);
                        }
                        errors++;
                    }
                }
            }
            else {
                const err26 = { instancePath: instancePath + "/severity/high", schemaPath: "#/properties/severity/properties/high/type", keyword: "type", params: { type: "object" }, message: "must be object" };
                if (vErrors === null) {
                    vErrors = [err26];
                }
                else {
                    vErrors.push(err26);
                }
                errors++;
            }
        }
        if (data3.medium !== undefined) {
            let data16 = data3.medium;
            if (data16 && typeof data16 == "object" && !Array.isArray(data16)) {
                if (data16.mutate === undefined) {
                    data16.mutate = true;
                }
                if (data16.phases === undefined) {
                    const err27 = { instancePath: instancePath + "/severity/medium", schemaPath: "#/properties/severity/properties/medium/required", keyword: "required", params: { missingProperty: "phases" }, message: "must have required property '" + "phases" + "'" };
                    if (vErrors === null) {
                        vErrors = [err27];
                    }
                    else {
                        vErrors.push(err27);
                    }
                    errors++;
                }
                for (const key4 in data16) {
                    if (!((((key4 === "phases") || (key4 === "mutate")) || (key4 === "environment")) || (key4 === "description"))) {
                        const err28 = { instancePath: instancePath + "/severity/medium", schemaPath: "#/properties/severity/properties/medium/additionalProperties", keyword: "additionalProperties", params: { additionalProperty: key4 }, message: "must NOT have additional properties" };
                        if (vErrors === null) {
                            vErrors = [err28];
                        }
                        else {
                            vErrors.push(err28);
                        }
                        errors++;
                    }
                }
                if (data16.phases !== undefined) {
                    let data17 = data16.phases;
                    if (Array.isArray(data17)) {
                        const len2 = data17.length;
                        for (let i2 = 0; i2 < len2; i2++) {
                            let data18 = data17[i2];
                            if (typeof data18 !== "string") {
                                const err29 = { instancePath: instancePath + "/severity/medium/phases/" + i2, schemaPath: "#/properties/severity/properties/medium/properties/phases/items/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                                if (vErrors === null) {
                                    vErrors = [err29];
                                }
                                else {
                                    vErrors.push(err29);
                                }
                                errors++;
                            }
                            if (!(((((((((data18 === "flags") || (data18 === "verify")) || (data18 === "database")) || (data18 === "git")) || (data18 === "schema")) || (data18 === "integrity")) || (data18 === "files")) || (data18 === "monitor")) || (data18 === "notify"))) {
                                const err30 = { instancePath: instancePath + "/severity/medium/phases/" + i2, schemaPath: "#/properties/severity/properties/medium/properties/phases/items/enum", keyword: "enum", params: { allowedValues: schema31.properties.severity.properties.medium.properties.phases.items.enum }, message: "must be equal to one of the allowed values" };
                                if (vErrors === null) {
                                    vErrors = [err30];
                                }
                                else {
                                    vErrors.push(err30);
                                }
                                errors++;
                            }
                        }
                    }
                    else {
                        const err31 = { instancePath: instancePath + "/severity/medium/phases", schemaPath: "#/properties/severity/properties/medium/properties/phases/type", keyword: "type", params: { type: "array" }, message: "must be array" };
                        if (vErrors === null) {
                            vErrors = [err31];
                        }
                        else {
                            vErrors.push(err31);
                        }
                        errors++;
                    }
                }
                if (typeof data16.mutate !== "boolean") {
                    const err32 = { instancePath: instancePath + "/severity/medium/mutate", schemaPath: "#/properties/severity/properties/medium/properties/mutate/type", keyword: "type", params: { type: "boolean" }, message: "must be boolean" };
                    if (vErrors === null) {
                        vErrors = [err32];
                    }
                    else {
                        vErrors.push(err32);
                    }
                    errors++;
                }
                if (data16.environment !== undefined) {
                    if (typeof data16.environment !== "string") {
                        const err33 = { instancePath: instancePath + "/severity/medium/environment", schemaPath: "#/properties/severity/properties/medium/properties/environment/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                        if (vErrors === null) {
                            vErrors = [err33];
                        }
                        else {
                            vErrors.push(err33);
                        }
                        errors++;
                    }
                }
                if (data16.description !== undefined) {
                    if (typeof data16.description !== "string") {
                        const err34 = { instancePath: instancePath + "/severity/medium/description", schemaPath: "#/properties/severity/properties/medium/properties/description/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                        if (vErrors === null) {
                            vErrors = [err34];
                        }
                        else {
                            vErrors.push(err34);
                        }
                        errors++;
                    }
                }
            }
            else {
                const err35 = { instancePath: instancePath + "/severity/medium", schemaPath: "#/properties/severity/properties/medium/type", keyword: "type", params: { type: "object" }, message: "must be object" };
                if (vErrors === null) {
                    vErrors = [err35];
                }
                else {
                    vErrors.push(err35);
                }
                errors++;
            }
        }
        if (data3.low !== undefined) {
            let data22 = data3.low;
            if (data22 && typeof data22 == "object" && !Array.isArray(data22)) {
                if (data22.mutate === undefined) {
                    data22.mutate = true;
                }
                if (data22.phases === undefined) {
                    const err36 = { instancePath: instancePath + "/severity/low", schemaPath: "#/properties/severity/properties/low/required", keyword: "required", params: { missingProperty: "phases" }, message: "must have required property '" + "phases" + "'" };
                    if (vErrors === null) {
                        vErrors = [err36];
                    }
                    else {
                        vErrors.push(err36);
                    }
                    errors++;
                }
                for (const key5 in data22) {
                    if (!((((key5 === "phases") || (key5 === "mutate")) || (key5 === "environment")) || (key5 === "description"))) {
                        const err37 = { instancePath: instancePath + "/severity/low", schemaPath: "#/properties/severity/properties/low/additionalProperties", keyword: "additionalProperties", params: { additionalProperty: key5 }, message: "must NOT have additional properties" };
                        if (vErrors === null) {
                            vErrors = [err37];
                        }
                        else {
                            vErrors.push(err37);
                        }
                        errors++;
                    }
                }
                if (data22.phases !== undefined) {
                    let data23 = data22.phases;
                    if (Array.isArray(data23)) {
                        const len3 = data23.length;
                        for (let i3 = 0; i3 < len3; i3++) {
                            let data24 = data23[i3];
                            if (typeof data24 !== "string") {
                                const err38 = { instancePath: instancePath + "/severity/low/phases/" + i3, schemaPath: "#/properties/severity/properties/low/properties/phases/items/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                                if (vErrors === null) {
                                    vErrors = [err38];
                                }
                                else {
                                    vErrors.push(err38);
                                }
                                errors++;
                            }
                            if (!(((((((((data24 === "flags") || (data24 === "verify")) || (data24 === "database")) || (data24 === "git")) || (data24 === "schema")) || (data24 === "integrity")) || (data24 === "files")) || (data24 === "monitor")) || (data24 === "notify"))) {
                                const err39 = { instancePath: instancePath + "/severity/low/phases/" + i3, schemaPath: "#/properties/severity/properties/low/properties/phases/items/enum", keyword: "enum", params: { allowedValues: schema31.properties.severity.properties.low.properties.phases.items.enum }, message: "must be equal to one of the allowed values" };
                                if (vErrors === null) {
                                    vErrors = [err39];
                                }
                                else {
                                    vErrors.push(err39);
                                }
                                errors++;
                            }
                        }
                    }
                    else {
                        const err40 = { instancePath: instancePath + "/severity/low/phases", schemaPath: "#/properties/severity/properties/low/properties/phases/type", keyword: "type", params: { type: "array" }, message: "must be array" };
                        if (vErrors === null) {
                            vErrors = [err40];
                        }
                        else {
                            vErrors.push(err40);
                        }
                        errors++;
                    }
                }
                if (typeof data22.mutate !== "boolean") {
                    const err41 = { instancePath: instancePath + "/severity/low/mutate", schemaPath: "#/properties/severity/properties/low/properties/mutate/type", keyword: "type", params: { type: "boolean" }, message: "must be boolean" };
                    if (vErrors === null) {
                        vErrors = [err41];
                    }
                    else {
                        vErrors.push(err41);
                    }
                    errors++;
                }
                if (data22.environment !== undefined) {
                    if (typeof data22.environment !== "string") {
                        const err42 = { instancePath: instancePath + "/severity/low/environment", schemaPath: "#/properties/severity/properties/low/properties/environment/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                        if (vErrors === null) {
                            vErrors = [err42];
                        }
                        else {
                            vErrors.push(err42);
                        }
                        errors++;
                    }
                }
                if (data22.description !== undefined) {
                    if (typeof data22.description !== "string") {
                        const err43 = { instancePath: instancePath + "/severity/low/description", schemaPath: "#/properties/severity/properties/low/properties/description/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                        if (vErrors === null) {
                            vErrors = [err43];
                        }
                        else {
                            vErrors.push(err43);
                        }
                        errors++;
                    }
                }
            }
            else {
                const err44 = { instancePath: instancePath + "/severity/low", schemaPath: "#/properties/severity/properties/low/type", keyword: "type", params: { type: "object" }, message: "must be object" };
                if (vErrors === null) {
                    vErrors = [err44];
                }
                else {
                    vErrors.push(err44);
                }
                errors++;
            }
        }
    }
    else {
        const err45 = { instancePath: instancePath + "/severity", schemaPath: "#/properties/severity/type", keyword: "type", params: { type: "object" }, message: "must be object" };
        if (vErrors === null) {
            vErrors = [err45];
        }
        else {
            vErrors.push(err45);
        }
        errors++;
    }
    if (data.hosting !== undefined) {
        let data28 = data.hosting;
        if (data28 && typeof data28 == "object" && !Array.isArray(data28)) {
            if (data28["token-env"] === undefined) {
                data28["token-env"] = "VERCEL_TOKEN";
            }
            if (data28.ref === undefined) {
                data28.ref = "main";
            }
            if (data28.provider === undefined) {
                const err46 = { instancePath: instancePath + "/hosting", schemaPath: "#/properties/hosting/required", keyword: "required", params: { missingProperty: "provider" }, message: "must have required property '" + "provider" + "'" };
                if (vErrors === null) {
                    vErrors = [err46];
                }
                else {
                    vErrors.push(err46);
                }
                errors++;
            }
            if (data28.project === undefined) {
                const err47 = { instancePath: instancePath + "/hosting", schemaPath: "#/properties/hosting/required", keyword: "required", params: { missingProperty: "project" }, message: "must have required property '" + "project" + "'" };
                if (vErrors === null) {
                    vErrors = [err47];
                }
                else {
                    vErrors.push(err47);
                }
                errors++;
            }
            for (const key6 in data28) {
                if (!(((((((key6 === "provider") || (key6 === "project")) || (key6 === "team")) || (key6 === "token-env")) || (key6 === "api-url")) || (key6 === "workflow")) || (key6 === "ref"))) {
                    const err48 = { instancePath: instancePath + "/hosting", schemaPath: "#/properties/hosting/additionalProperties", keyword: "additionalProperties", params: { additionalProperty: key6 }, message: "must NOT have additional properties" };
                    if (vErrors === null) {
                        vErrors = [err48];
                    }
                    else {
                        vErrors.push(err48);
                    }
                    errors++;
                }
            }
            if (data28.provider !== undefined) {
                let data29 = data28.provider;
                if (typeof data29 !== "string") {
                    const err49 = { instancePath: instancePath + "/hosting/provider", schemaPath: "#/properties/hosting/properties/provider/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                    if (vErrors === null) {
                        vErrors = [err49];
                    }
                    else {
                        vErrors.push(err49);
                    }
                    errors++;
                }
                if (!((data29 === "vercel") || (data29 === "github-variables"))) {
                    const err50 = { instancePath: instancePath + "/hosting/provider", schemaPath: "#/properties/hosting/properties/provider/enum", keyword: "enum", params: { allowedValues: schema31.properties.hosting.properties.provider.enum }, message: "must be equal to one of the allowed values" };
                    if (vErrors === null) {
                        vErrors = [err50];
                    }
                    else {
                        vErrors.push(err50);
                    }
                    errors++;
                }
            }
            if (data28.project !== undefined) {
                let data30 = data28.project;
                if (typeof data30 === "string") {
                    if (func2(data30) < 1) {
                        const err51 = { instancePath: instancePath + "/hosting/project", schemaPath: "#/properties/hosting/properties/project/minLength", keyword: "minLength", params: { limit: 1 }, message: "must NOT have fewer than 1 characters" };
                        if (vErrors === null) {
                            vErrors = [err51];
                        }
                        else {
                            vErrors.push(err51);
                        }
                        errors++;
                    }
                }
                else {
                    const err52 = { instancePath: instancePath + "/hosting/project", schemaPath: "#/properties/hosting/properties/project/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                    if (vErrors === null) {
                        vErrors = [err52];
                    }
                    else {
                        vErrors.push(err52);
                    }
                    errors++;
                }
            }
            if (data28.team !== undefined) {
                if (typeof data28.team !== "string") {
                    const err53 = { instancePath: instancePath + "/hosting/team", schemaPath: "#/properties/hosting/properties/team/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                    if (vErrors === null) {
                        vErrors = [err53];
                    }
                    else {
                        vErrors.push(err53);
                    }
                    errors++;
                }
            }
            let data32 = data28["token-env"];
            if (typeof data32 === "string") {
                if (!pattern4.test(data32)) {
                    const err54 = { instancePath: instancePath + "/hosting/token-env", schemaPath: "#/properties/hosting/properties/token-env/pattern", keyword: "pattern", params: { pattern: "^[A-Z_][A-Z0-9_]*$" }, message: "must match pattern \"" + "^[A-Z_][A-Z0-9_]*$" + "\"" };
                    if (vErrors === null) {
                        vErrors = [err54];
                    }
                    else {
                        vErrors.push(err54);
                    }
                    errors++;
                }
            }
            else {
                const err55 = { instancePath: instancePath + "/hosting/token-env", schemaPath: "#/properties/hosting/properties/token-env/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                if (vErrors === null) {
                    vErrors = [err55];
                }
                else {
                    vErrors.push(err55);
                }
                errors++;
            }
            if (data28["api-url"] !== undefined) {
                let data33 = data28["api-url"];
                if (typeof data33 === "string") {
                    if (!pattern5.test(data33)) {
                        const err56 = { instancePath: instancePath + "/hosting/api-url", schemaPath: "#/properties/hosting/properties/api-url/pattern", keyword: "pattern", params: { pattern: "^https?:\\/\\/[^\\s]+$" }, message: "must match pattern \"" + "^https?:\\/\\/[^\\s]+$" + "\"" };
                        if (vErrors === null) {
                            vErrors = [err56];
                        }
                        else {
                            vErrors.push(err56);
                        }
                        errors++;
                    }
                }
                else {
                    const err57 = { instancePath: instancePath + "/hosting/api-url", schemaPath: "#/properties/hosting/properties/api-url/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                    if (vErrors === null) {
                        vErrors = [err57];
                    }
                    else {
                        vErrors.push(err57);
                    }
                    errors++;
                }
            }
            if (data28.workflow !== undefined) {
                let data34 = data28.workflow;
                if (typeof data34 === "string") {
                    if (!pattern6.test(data34)) {
                        const err58 = { instancePath: instancePath + "/hosting/workflow", schemaPath: "#/properties/hosting/properties/workflow/pattern", keyword: "pattern", params: { pattern: "^[A-Za-z0-9._-]+$" }, message: "must match pattern \"" + "^[A-Za-z0-9._-]+$" + "\"" };
                        if (vErrors === null) {
                            vErrors = [err58];
                        }
                        else {
                            vErrors.push(err58);
                        }
                        errors++;
                    }
                }
                else {
                    const err59 = { instancePath: instancePath + "/hosting/workflow", schemaPath: "#/properties/hosting/properties/workflow/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                    if (vErrors === null) {
                        vErrors = [err59];
                    }
                    else {
                        vErrors.push(err59);
                    }
                    errors++;
                }
            }
            let data35 = data28.ref;
            if (typeof data35 === "string") {
                if (!pattern7.test(data35)) {
                    const err60 = { instancePath: instancePath + "/hosting/ref", schemaPath: "#/properties/hosting/properties/ref/pattern", keyword: "pattern", params: { pattern: "^(?!-)(?!.*\\.\\.)[A-Za-z0-9._/-]*[A-Za-z0-9._-]$" }, message: "must match pattern \"" + "^(?!-)(?!.*\\.\\.)[A-Za-z0-9._/-]*[A-Za-z0-9._-]$" + "\"" };
                    if (vErrors === null) {
                        vErrors = [err60];
                    }
                    else {
                        vErrors.push(err60);
                    }
                    errors++;
                }
            }
            else {
                const err61 = { instancePath: instancePath + "/hosting/ref", schemaPath: "#/properties/hosting/properties/ref/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                if (vErrors === null) {
                    vErrors = [err61];
                }
                else {
                    vErrors.push(err61);
                }
                errors++;
            }
        }
        else {
            const err62 = { instancePath: instancePath + "/hosting", schemaPath: "#/properties/hosting/type", keyword: "type", params: { type: "object" }, message: "must be object" };
            if (vErrors === null) {
                vErrors = [err62];
            }
            else {
                vErrors.push(err62);
            }
            errors++;
        }
    }
    if (data.flags !== undefined) {
        let data36 = data.flags;
        if (data36 && typeof data36 == "object" && !Array.isArray(data36)) {
            if (data36.targets === undefined) {
                data36.targets = ["production"];
            }
            if (data36.redeploy === undefined) {
                data36.redeploy = true;
            }
            if (data36["wait-timeout"] === undefined) {
                data36["wait-timeout"] = "15m";
            }
            if (data36.set === undefined) {
                const err63 = { instancePath: instancePath + "/flags", schemaPath: "#/properties/flags/required", keyword: "required", params: { missingProperty: "set" }, message: "must have required property '" + "set" + "'" };
                if (vErrors === null) {
                    vErrors = [err63];
                }
                else {
                    vErrors.push(err63);
                }
                errors++;
            }
            for (const key7 in data36) {
                if (!((((key7 === "set") || (key7 === "targets")) || (key7 === "redeploy")) || (key7 === "wait-timeout"))) {
                    const err64 = { instancePath: instancePath + "/flags", schemaPath: "#/properties/flags/additionalProperties", keyword: "additionalProperties", params: { additionalProperty: key7 }, message: "must NOT have additional properties" };
                    if (vErrors === null) {
                        vErrors = [err64];
                    }
                    else {
                        vErrors.push(err64);
                    }
                    errors++;
                }
            }
            if (data36.set !== undefined) {
                let data37 = data36.set;
                if (data37 && typeof data37 == "object" && !Array.isArray(data37)) {
                    for (const key8 in data37) {
                        const _errs85 = errors;
                        if (typeof key8 === "string") {
                            if (!pattern8.test(key8)) {
                                const err65 = { instancePath: instancePath + "/flags/set", schemaPath: "#/properties/flags/properties/set/propertyNames/pattern", keyword: "pattern", params: { pattern: "^[A-Za-z_][A-Za-z0-9_]*$" }, message: "must match pattern \"" + "^[A-Za-z_][A-Za-z0-9_]*$" + "\"", propertyName: key8 };
                                if (vErrors === null) {
                                    vErrors = [err65];
                                }
                                else {
                                    vErrors.push(err65);
                                }
                                errors++;
                            }
                        }
                        else {
                            const err66 = { instancePath: instancePath + "/flags/set", schemaPath: "#/properties/flags/properties/set/propertyNames/type", keyword: "type", params: { type: "string" }, message: "must be string", propertyName: key8 };
                            if (vErrors === null) {
                                vErrors = [err66];
                            }
                            else {
                                vErrors.push(err66);
                            }
                            errors++;
                        }
                        var valid16 = _errs85 === errors;
                        if (!valid16) {
                            const err67 = { instancePath: instancePath + "/flags/set", schemaPath: "#/properties/flags/properties/set/propertyNames", keyword: "propertyNames", params: { propertyName: key8 }, message: "property name must be valid" };
                            if (vErrors === null) {
                                vErrors = [err67];
                            }
                            else {
                                vErrors.push(err67);
                            }
                            errors++;
                        }
                    }
                    for (const key9 in data37) {
                        if (typeof data37[key9] !== "string") {
                            const err68 = { instancePath: instancePath + "/flags/set/" + key9.replace(/~/g, "~0").replace(/\//g, "~1"), schemaPath: "#/properties/flags/properties/set/additionalProperties/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                            if (vErrors === null) {
                                vErrors = [err68];
                            }
                            else {
                                vErrors.push(err68);
                            }
                            errors++;
                        }
                    }
                }
                else {
                    const err69 = { instancePath: instancePath + "/flags/set", schemaPath: "#/properties/flags/properties/set/type", keyword: "type", params: { type: "object" }, message: "must be object" };
                    if (vErrors === null) {
                        vErrors = [err69];
                    }
                    else {
                        vErrors.push(err69);
                    }
                    errors++;
                }
            }
            let data39 = data36.targets;
            if (Array.isArray(data39)) {
                if (data39.length < 1) {
                    const err70 = { instancePath: instancePath + "/flags/targets", schemaPath: "#/properties/flags/properties/targets/minItems", keyword: "minItems", params: { limit: 1 }, message: "must NOT have fewer than 1 items" };
                    if (vErrors === null) {
                        vErrors = [err70];
                    }
                    else {
                        vErrors.push(err70);
                    }
                    errors++;
                }
                const len4 = data39.length;
                for (let i4 = 0; i4 < len4; i4++) {
                    let data40 = data39[i4];
                    if (typeof data40 !== "string") {
                        const err71 = { instancePath: instancePath + "/flags/targets/" + i4, schemaPath: "#/properties/flags/properties/targets/items/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                        if (vErrors === null) {
                            vErrors = [err71];
                        }
                        else {
                            vErrors.push(err71);
                        }
                        errors++;
                    }
                    if (!(((data40 === "production") || (data40 === "preview")) || (data40 === "development"))) {
                        const err72 = { instancePath: instancePath + "/flags/targets/" + i4, schemaPath: "#/properties/flags/properties/targets/items/enum", keyword: "enum", params: { allowedValues: schema31.properties.flags.properties.targets.items.enum }, message: "must be equal to one of the allowed values" };
                        if (vErrors === null) {
                            vErrors = [err72];
                        }
                        else {
                            vErrors.push(err72);
                        }
                        errors++;
                    }
                }
            }
            else {
                const err73 = { instancePath: instancePath + "/flags/targets", schemaPath: "#/properties/flags/properties/targets/type", keyword: "type", params: { type: "array" }, message: "must be array" };
                if (vErrors === null) {
                    vErrors = [err73];
                }
                else {
                    vErrors.push(err73);
                }
                errors++;
            }
            if (typeof data36.redeploy !== "boolean") {
                const err74 = { instancePath: instancePath + "/flags/redeploy", schemaPath: "#/properties/flags/properties/redeploy/type", keyword: "type", params: { type: "boolean" }, message: "must be boolean" };
                if (vErrors === null) {
                    vErrors = [err74];
                }
                else {
                    vErrors.push(err74);
                }
                errors++;
            }
            let data42 = data36["wait-timeout"];
            if (typeof data42 === "string") {
                if (!pattern9.test(data42)) {
                    const err75 = { instancePath: instancePath + "/flags/wait-timeout", schemaPath: "#/properties/flags/properties/wait-timeout/pattern", keyword: "pattern", params: { pattern: "^\\d+(ms|s|m|h)$" }, message: "must match pattern \"" + "^\\d+(ms|s|m|h)$" + "\"" };
                    if (vErrors === null) {
                        vErrors = [err75];
                    }
                    else {
                        vErrors.push(err75);
                    }
                    errors++;
                }
            }
            else {
                const err76 = { instancePath: instancePath + "/flags/wait-timeout", schemaPath: "#/properties/flags/properties/wait-timeout/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                if (vErrors === null) {
                    vErrors = [err76];
                }
                else {
                    vErrors.push(err76);
                }
                errors++;
            }
        }
        else {
            const err77 = { instancePath: instancePath + "/flags", schemaPath: "#/properties/flags/type", keyword: "type", params: { type: "object" }, message: "must be object" };
            if (vErrors === null) {
                vErrors = [err77];
            }
            else {
                vErrors.push(err77);
            }
            errors++;
        }
    }
    if (data.verify !== undefined) {
        let data43 = data.verify;
        if (data43 && typeof data43 == "object" && !Array.isArray(data43)) {
            if (data43.checks === undefined) {
                data43.checks = [];
            }
            for (const key10 in data43) {
                if (!((key10 === "checks") || (key10 === "smoke"))) {
                    const err78 = { instancePath: instancePath + "/verify", schemaPath: "#/properties/verify/additionalProperties", keyword: "additionalProperties", params: { additionalProperty: key10 }, message: "must NOT have additional properties" };
                    if (vErrors === null) {
                        vErrors = [err78];
                    }
                    else {
                        vErrors.push(err78);
                    }
                    errors++;
                }
            }
            let data44 = data43.checks;
            if (Array.isArray(data44)) {
                const len5 = data44.length;
                for (let i5 = 0; i5 < len5; i5++) {
                    let data45 = data44[i5];
                    if (data45 && typeof data45 == "object" && !Array.isArray(data45)) {
                        if (data45["expect-status"] === undefined) {
                            data45["expect-status"] = 200;
                        }
                        if (data45.timeout === undefined) {
                            data45.timeout = "5m";
                        }
                        if (data45.interval === undefined) {
                            data45.interval = "10s";
                        }
                        if (data45.name === undefined) {
                            const err79 = { instancePath: instancePath + "/verify/checks/" + i5, schemaPath: "#/properties/verify/properties/checks/items/required", keyword: "required", params: { missingProperty: "name" }, message: "must have required property '" + "name" + "'" };
                            if (vErrors === null) {
                                vErrors = [err79];
                            }
                            else {
                                vErrors.push(err79);
                            }
                            errors++;
                        }
                        if (data45.url === undefined) {
                            const err80 = { instancePath: instancePath + "/verify/checks/" + i5, schemaPath: "#/properties/verify/properties/checks/items/required", keyword: "required", params: { missingProperty: "url" }, message: "must have required property '" + "url" + "'" };
                            if (vErrors === null) {
                                vErrors = [err80];
                            }
                            else {
                                vErrors.push(err80);
                            }
                            errors++;
                        }
                        for (const key11 in data45) {
                            if (!(((((((key11 === "name") || (key11 === "url")) || (key11 === "expect-status")) || (key11 === "expect-text")) || (key11 === "reject-text")) || (key11 === "timeout")) || (key11 === "interval"))) {
                                const err81 = { instancePath: instancePath + "/verify/checks/" + i5, schemaPath: "#/properties/verify/properties/checks/items/additionalProperties", keyword: "additionalProperties", params: { additionalProperty: key11 }, message: "must NOT have additional properties" };
                                if (vErrors === null) {
                                    vErrors = [err81];
                                }
                                else {
                                    vErrors.push(err81);
                                }
                                errors++;
                            }
                        }
                        if (data45.name !== undefined) {
                            let data46 = data45.name;
                            if (typeof data46 === "string") {
                                if (func2(data46) < 1) {
                                    const err82 = { instancePath: instancePath + "/verify/checks/" + i5 + "/name", schemaPath: "#/properties/verify/properties/checks/items/properties/name/minLength", keyword: "minLength", params: { limit: 1 }, message: "must NOT have fewer than 1 characters" };
                                    if (vErrors === null) {
                                        vErrors = [err82];
                                    }
                                    else {
                                        vErrors.push(err82);
                                    }
                                    errors++;
                                }
                            }
                            else {
                                const err83 = { instancePath: instancePath + "/verify/checks/" + i5 + "/name", schemaPath: "#/properties/verify/properties/checks/items/properties/name/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                                if (vErrors === null) {
                                    vErrors = [err83];
                                }
                                else {
                                    vErrors.push(err83);
                                }
                                errors++;
                            }
                        }
                        if (data45.url !== undefined) {
                            let data47 = data45.url;
                            if (typeof data47 === "string") {
                                if (!pattern5.test(data47)) {
                                    const err84 = { instancePath: instancePath + "/verify/checks/" + i5 + "/url", schemaPath: "#/properties/verify/properties/checks/items/properties/url/pattern", keyword: "pattern", params: { pattern: "^https?:\\/\\/[^\\s]+$" }, message: "must match pattern \"" + "^https?:\\/\\/[^\\s]+$" + "\"" };
                                    if (vErrors === null) {
                                        vErrors = [err84];
                                    }
                                    else {
                                        vErrors.push(err84);
                                    }
                                    errors++;
                                }
                            }
                            else {
                                const err85 = { instancePath: instancePath + "/verify/checks/" + i5 + "/url", schemaPath: "#/properties/verify/properties/checks/items/properties/url/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                                if (vErrors === null) {
                                    vErrors = [err85];
                                }
                                else {
                                    vErrors.push(err85);
                                }
                                errors++;
                            }
                        }
                        let data48 = data45["expect-status"];
                        if (!(((typeof data48 == "number") && (!(data48 % 1) && !isNaN(data48))) && (isFinite(data48)))) {
                            const err86 = { instancePath: instancePath + "/verify/checks/" + i5 + "/expect-status", schemaPath: "#/properties/verify/properties/checks/items/properties/expect-status/type", keyword: "type", params: { type: "integer" }, message: "must be integer" };
                            if (vErrors === null) {
                                vErrors = [err86];
                            }
                            else {
                                vErrors.push(err86);
                            }
                            errors++;
                        }
                        if ((typeof data48 == "number") && (isFinite(data48))) {
                            if (data48 > 599 || isNaN(data48)) {
                                const err87 = { instancePath: instancePath + "/verify/checks/" + i5 + "/expect-status", schemaPath: "#/properties/verify/properties/checks/items/properties/expect-status/maximum", keyword: "maximum", params: { comparison: "<=", limit: 599 }, message: "must be <= 599" };
                                if (vErrors === null) {
                                    vErrors = [err87];
                                }
                                else {
                                    vErrors.push(err87);
                                }
                                errors++;
                            }
                            if (data48 < 100 || isNaN(data48)) {
                                const err88 = { instancePath: instancePath + "/verify/checks/" + i5 + "/expect-status", schemaPath: "#/properties/verify/properties/checks/items/properties/expect-status/minimum", keyword: "minimum", params: { comparison: ">=", limit: 100 }, message: "must be >= 100" };
                                if (vErrors === null) {
                                    vErrors = [err88];
                                }
                                else {
                                    vErrors.push(err88);
                                }
                                errors++;
                            }
                        }
                        if (data45["expect-text"] !== undefined) {
                            if (typeof data45["expect-text"] !== "string") {
                                const err89 = { instancePath: instancePath + "/verify/checks/" + i5 + "/expect-text", schemaPath: "#/properties/verify/properties/checks/items/properties/expect-text/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                                if (vErrors === null) {
                                    vErrors = [err89];
                                }
                                else {
                                    vErrors.push(err89);
                                }
                                errors++;
                            }
                        }
                        if (data45["reject-text"] !== undefined) {
                            if (typeof data45["reject-text"] !== "string") {
                                const err90 = { instancePath: instancePath + "/verify/checks/" + i5 + "/reject-text", schemaPath: "#/properties/verify/properties/checks/items/properties/reject-text/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                                if (vErrors === null) {
                                    vErrors = [err90];
                                }
                                else {
                                    vErrors.push(err90);
                                }
                                errors++;
                            }
                        }
                        let data51 = data45.timeout;
                        if (typeof data51 === "string") {
                            if (!pattern9.test(data51)) {
                                const err91 = { instancePath: instancePath + "/verify/checks/" + i5 + "/timeout", schemaPath: "#/properties/verify/properties/checks/items/properties/timeout/pattern", keyword: "pattern", params: { pattern: "^\\d+(ms|s|m|h)$" }, message: "must match pattern \"" + "^\\d+(ms|s|m|h)$" + "\"" };
                                if (vErrors === null) {
                                    vErrors = [err91];
                                }
                                else {
                                    vErrors.push(err91);
                                }
                                errors++;
                            }
                        }
                        else {
                            const err92 = { instancePath: instancePath + "/verify/checks/" + i5 + "/timeout", schemaPath: "#/properties/verify/properties/checks/items/properties/timeout/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                            if (vErrors === null) {
                                vErrors = [err92];
                            }
                            else {
                                vErrors.push(err92);
                            }
                            errors++;
                        }
                        let data52 = data45.interval;
                        if (typeof data52 === "string") {
                            if (!pattern9.test(data52)) {
                                const err93 = { instancePath: instancePath + "/verify/checks/" + i5 + "/interval", schemaPath: "#/properties/verify/properties/checks/items/properties/interval/pattern", keyword: "pattern", params: { pattern: "^\\d+(ms|s|m|h)$" }, message: "must match pattern \"" + "^\\d+(ms|s|m|h)$" + "\"" };
                                if (vErrors === null) {
                                    vErrors = [err93];
                                }
                                else {
                                    vErrors.push(err93);
                                }
                                errors++;
                            }
                        }
                        else {
                            const err94 = { instancePath: instancePath + "/verify/checks/" + i5 + "/interval", schemaPath: "#/properties/verify/properties/checks/items/properties/interval/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                            if (vErrors === null) {
                                vErrors = [err94];
                            }
                            else {
                                vErrors.push(err94);
                            }
                            errors++;
                        }
                    }
                    else {
                        const err95 = { instancePath: instancePath + "/verify/checks/" + i5, schemaPath: "#/properties/verify/properties/checks/items/type", keyword: "type", params: { type: "object" }, message: "must be object" };
                        if (vErrors === null) {
                            vErrors = [err95];
                        }
                        else {
                            vErrors.push(err95);
                        }
                        errors++;
                    }
                }
            }
            else {
                const err96 = { instancePath: instancePath + "/verify/checks", schemaPath: "#/properties/verify/properties/checks/type", keyword: "type", params: { type: "array" }, message: "must be array" };
                if (vErrors === null) {
                    vErrors = [err96];
                }
                else {
                    vErrors.push(err96);
                }
                errors++;
            }
            if (data43.smoke !== undefined) {
                let data53 = data43.smoke;
                if (data53 && typeof data53 == "object" && !Array.isArray(data53)) {
                    if (data53.timeout === undefined) {
                        data53.timeout = "5m";
                    }
                    if (data53.run === undefined) {
                        const err97 = { instancePath: instancePath + "/verify/smoke", schemaPath: "#/properties/verify/properties/smoke/required", keyword: "required", params: { missingProperty: "run" }, message: "must have required property '" + "run" + "'" };
                        if (vErrors === null) {
                            vErrors = [err97];
                        }
                        else {
                            vErrors.push(err97);
                        }
                        errors++;
                    }
                    for (const key12 in data53) {
                        if (!((key12 === "run") || (key12 === "timeout"))) {
                            const err98 = { instancePath: instancePath + "/verify/smoke", schemaPath: "#/properties/verify/properties/smoke/additionalProperties", keyword: "additionalProperties", params: { additionalProperty: key12 }, message: "must NOT have additional properties" };
                            if (vErrors === null) {
                                vErrors = [err98];
                            }
                            else {
                                vErrors.push(err98);
                            }
                            errors++;
                        }
                    }
                    if (data53.run !== undefined) {
                        let data54 = data53.run;
                        if (typeof data54 === "string") {
                            if (func2(data54) < 1) {
                                const err99 = { instancePath: instancePath + "/verify/smoke/run", schemaPath: "#/properties/verify/properties/smoke/properties/run/minLength", keyword: "minLength", params: { limit: 1 }, message: "must NOT have fewer than 1 characters" };
                                if (vErrors === null) {
                                    vErrors = [err99];
                                }
                                else {
                                    vErrors.push(err99);
                                }
                                errors++;
                            }
                        }
                        else {
                            const err100 = { instancePath: instancePath + "/verify/smoke/run", schemaPath: "#/properties/verify/properties/smoke/properties/run/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                            if (vErrors === null) {
                                vErrors = [err100];
                            }
                            else {
                                vErrors.push(err100);
                            }
                            errors++;
                        }
                    }
                    let data55 = data53.timeout;
                    if (typeof data55 === "string") {
                        if (!pattern9.test(data55)) {
                            const err101 = { instancePath: instancePath + "/verify/smoke/timeout", schemaPath: "#/properties/verify/properties/smoke/properties/timeout/pattern", keyword: "pattern", params: { pattern: "^\\d+(ms|s|m|h)$" }, message: "must match pattern \"" + "^\\d+(ms|s|m|h)$" + "\"" };
                            if (vErrors === null) {
                                vErrors = [err101];
                            }
                            else {
                                vErrors.push(err101);
                            }
                            errors++;
                        }
                    }
                    else {
                        const err102 = { instancePath: instancePath + "/verify/smoke/timeout", schemaPath: "#/properties/verify/properties/smoke/properties/timeout/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                        if (vErrors === null) {
                            vErrors = [err102];
                        }
                        else {
                            vErrors.push(err102);
                        }
                        errors++;
                    }
                }
                else {
                    const err103 = { instancePath: instancePath + "/verify/smoke", schemaPath: "#/properties/verify/properties/smoke/type", keyword: "type", params: { type: "object" }, message: "must be object" };
                    if (vErrors === null) {
                        vErrors = [err103];
                    }
                    else {
                        vErrors.push(err103);
                    }
                    errors++;
                }
            }
        }
        else {
            const err104 = { instancePath: instancePath + "/verify", schemaPath: "#/properties/verify/type", keyword: "type", params: { type: "object" }, message: "must be object" };
            if (vErrors === null) {
                vErrors = [err104];
            }
            else {
                vErrors.push(err104);
            }
            errors++;
        }
    }
    if (data.database !== undefined) {
        let data56 = data.database;
        if (data56 && typeof data56 == "object" && !Array.isArray(data56)) {
            if (data56["url-env"] === undefined) {
                data56["url-env"] = "DATABASE_URL";
            }
            if (data56["lock-timeout"] === undefined) {
                data56["lock-timeout"] = "500ms";
            }
            if (data56["statement-timeout"] === undefined) {
                data56["statement-timeout"] = "5m";
            }
            if (data56["lock-retries"] === undefined) {
                data56["lock-retries"] = 8;
            }
            if (data56.steps === undefined) {
                data56.steps = [];
            }
            for (const key13 in data56) {
                if (!(((((key13 === "url-env") || (key13 === "lock-timeout")) || (key13 === "statement-timeout")) || (key13 === "lock-retries")) || (key13 === "steps"))) {
                    const err105 = { instancePath: instancePath + "/database", schemaPath: "#/properties/database/additionalProperties", keyword: "additionalProperties", params: { additionalProperty: key13 }, message: "must NOT have additional properties" };
                    if (vErrors === null) {
                        vErrors = [err105];
                    }
                    else {
                        vErrors.push(err105);
                    }
                    errors++;
                }
            }
            let data57 = data56["url-env"];
            if (typeof data57 === "string") {
                if (!pattern4.test(data57)) {
                    const err106 = { instancePath: instancePath + "/database/url-env", schemaPath: "#/properties/database/properties/url-env/pattern", keyword: "pattern", params: { pattern: "^[A-Z_][A-Z0-9_]*$" }, message: "must match pattern \"" + "^[A-Z_][A-Z0-9_]*$" + "\"" };
                    if (vErrors === null) {
                        vErrors = [err106];
                    }
                    else {
                        vErrors.push(err106);
                    }
                    errors++;
                }
            }
            else {
                const err107 = { instancePath: instancePath + "/database/url-env", schemaPath: "#/properties/database/properties/url-env/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                if (vErrors === null) {
                    vErrors = [err107];
                }
                else {
                    vErrors.push(err107);
                }
                errors++;
            }
            let data58 = data56["lock-timeout"];
            if (typeof data58 === "string") {
                if (!pattern9.test(data58)) {
                    const err108 = { instancePath: instancePath + "/database/lock-timeout", schemaPath: "#/properties/database/properties/lock-timeout/pattern", keyword: "pattern", params: { pattern: "^\\d+(ms|s|m|h)$" }, message: "must match pattern \"" + "^\\d+(ms|s|m|h)$" + "\"" };
                    if (vErrors === null) {
                        vErrors = [err108];
                    }
                    else {
                        vErrors.push(err108);
                    }
                    errors++;
                }
            }
            else {
                const err109 = { instancePath: instancePath + "/database/lock-timeout", schemaPath: "#/properties/database/properties/lock-timeout/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                if (vErrors === null) {
                    vErrors = [err109];
                }
                else {
                    vErrors.push(err109);
                }
                errors++;
            }
            let data59 = data56["statement-timeout"];
            if (typeof data59 === "string") {
                if (!pattern9.test(data59)) {
                    const err110 = { instancePath: instancePath + "/database/statement-timeout", schemaPath: "#/properties/database/properties/statement-timeout/pattern", keyword: "pattern", params: { pattern: "^\\d+(ms|s|m|h)$" }, message: "must match pattern \"" + "^\\d+(ms|s|m|h)$" + "\"" };
                    if (vErrors === null) {
                        vErrors = [err110];
                    }
                    else {
                        vErrors.push(err110);
                    }
                    errors++;
                }
            }
            else {
                const err111 = { instancePath: instancePath + "/database/statement-timeout", schemaPath: "#/properties/database/properties/statement-timeout/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                if (vErrors === null) {
                    vErrors = [err111];
                }
                else {
                    vErrors.push(err111);
                }
                errors++;
            }
            let data60 = data56["lock-retries"];
            if (!(((typeof data60 == "number") && (!(data60 % 1) && !isNaN(data60))) && (isFinite(data60)))) {
                const err112 = { instancePath: instancePath + "/database/lock-retries", schemaPath: "#/properties/database/properties/lock-retries/type", keyword: "type", params: { type: "integer" }, message: "must be integer" };
                if (vErrors === null) {
                    vErrors = [err112];
                }
                else {
                    vErrors.push(err112);
                }
                errors++;
            }
            if ((typeof data60 == "number") && (isFinite(data60))) {
                if (data60 > 50 || isNaN(data60)) {
                    const err113 = { instancePath: instancePath + "/database/lock-retries", schemaPath: "#/properties/database/properties/lock-retries/maximum", keyword: "maximum", params: { comparison: "<=", limit: 50 }, message: "must be <= 50" };
                    if (vErrors === null) {
                        vErrors = [err113];
                    }
                    else {
                        vErrors.push(err113);
                    }
                    errors++;
                }
                if (data60 < 0 || isNaN(data60)) {
                    const err114 = { instancePath: instancePath + "/database/lock-retries", schemaPath: "#/properties/database/properties/lock-retries/minimum", keyword: "minimum", params: { comparison: ">=", limit: 0 }, message: "must be >= 0" };
                    if (vErrors === null) {
                        vErrors = [err114];
                    }
                    else {
                        vErrors.push(err114);
                    }
                    errors++;
                }
            }
            let data61 = data56.steps;
            if (Array.isArray(data61)) {
                const len6 = data61.length;
                for (let i6 = 0; i6 < len6; i6++) {
                    let data62 = data61[i6];
                    if (data62 && typeof data62 == "object" && !Array.isArray(data62)) {
                        if (data62.name === undefined) {
                            const err115 = { instancePath: instancePath + "/database/steps/" + i6, schemaPath: "#/properties/database/properties/steps/items/required", keyword: "required", params: { missingProperty: "name" }, message: "must have required property '" + "name" + "'" };
                            if (vErrors === null) {
                                vErrors = [err115];
                            }
                            else {
                                vErrors.push(err115);
                            }
                            errors++;
                        }
                        for (const key14 in data62) {
                            if (!(((((key14 === "name") || (key14 === "batch-update")) || (key14 === "drop-index")) || (key14 === "sql")) || (key14 === "acknowledge-data-loss"))) {
                                const err116 = { instancePath: instancePath + "/database/steps/" + i6, schemaPath: "#/properties/database/properties/steps/items/additionalProperties", keyword: "additionalProperties", params: { additionalProperty: key14 }, message: "must NOT have additional properties" };
                                if (vErrors === null) {
                                    vErrors = [err116];
                                }
                                else {
                                    vErrors.push(err116);
                                }
                                errors++;
                            }
                        }
                        if (data62.name !== undefined) {
                            let data63 = data62.name;
                            if (typeof data63 === "string") {
                                if (func2(data63) < 1) {
                                    const err117 = { instancePath: instancePath + "/database/steps/" + i6 + "/name", schemaPath: "#/properties/database/properties/steps/items/properties/name/minLength", keyword: "minLength", params: { limit: 1 }, message: "must NOT have fewer than 1 characters" };
                                    if (vErrors === null) {
                                        vErrors = [err117];
                                    }
                                    else {
                                        vErrors.push(err117);
                                    }
                                    errors++;
                                }
                            }
                            else {
                                const err118 = { instancePath: instancePath + "/database/steps/" + i6 + "/name", schemaPath: "#/properties/database/properties/steps/items/properties/name/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                                if (vErrors === null) {
                                    vErrors = [err118];
                                }
                                else {
                                    vErrors.push(err118);
                                }
                                errors++;
                            }
                        }
                        if (data62["batch-update"] !== undefined) {
                            let data64 = data62["batch-update"];
                            if (data64 && typeof data64 == "object" && !Array.isArray(data64)) {
                                if (data64.key === undefined) {
                                    data64.key = "id";
                                }
                                if (data64["batch-size"] === undefined) {
                                    data64["batch-size"] = 5000;
                                }
                                if (data64.pause === undefined) {
                                    data64.pause = "10ms";
                                }
                                if (data64["max-duration"] === undefined) {
                                    data64["max-duration"] = "10m";
                                }
                                if (data64.table === undefined) {
                                    const err119 = { instancePath: instancePath + "/database/steps/" + i6 + "/batch-update", schemaPath: "#/properties/database/properties/steps/items/properties/batch-update/required", keyword: "required", params: { missingProperty: "table" }, message: "must have required property '" + "table" + "'" };
                                    if (vErrors === null) {
                                        vErrors = [err119];
                                    }
                                    else {
                                        vErrors.push(err119);
                                    }
                                    errors++;
                                }
                                if (data64.set === undefined) {
                                    const err120 = { instancePath: instancePath + "/database/steps/" + i6 + "/batch-update", schemaPath: "#/properties/database/properties/steps/items/properties/batch-update/required", keyword: "required", params: { missingProperty: "set" }, message: "must have required property '" + "set" + "'" };
                                    if (vErrors === null) {
                                        vErrors = [err120];
                                    }
                                    else {
                                        vErrors.push(err120);
                                    }
                                    errors++;
                                }
                                if (data64.where === undefined) {
                                    const err121 = { instancePath: instancePath + "/database/steps/" + i6 + "/batch-update", schemaPath: "#/properties/database/properties/steps/items/properties/batch-update/required", keyword: "required", params: { missingProperty: "where" }, message: "must have required property '" + "where" + "'" };
                                    if (vErrors === null) {
                                        vErrors = [err121];
                                    }
                                    else {
                                        vErrors.push(err121);
                                    }
                                    errors++;
                                }
                                for (const key15 in data64) {
                                    if (!(((((((key15 === "table") || (key15 === "key")) || (key15 === "set")) || (key15 === "where")) || (key15 === "batch-size")) || (key15 === "pause")) || (key15 === "max-duration"))) {
                                        const err122 = { instancePath: instancePath + "/database/steps/" + i6 + "/batch-update", schemaPath: "#/properties/database/properties/steps/items/properties/batch-update/additionalProperties", keyword: "additionalProperties", params: { additionalProperty: key15 }, message: "must NOT have additional properties" };
                                        if (vErrors === null) {
                                            vErrors = [err122];
                                        }
                                        else {
                                            vErrors.push(err122);
                                        }
                                        errors++;
                                    }
                                }
                                if (data64.table !== undefined) {
                                    let data65 = data64.table;
                                    if (typeof data65 === "string") {
                                        if (!pattern17.test(data65)) {
                                            const err123 = { instancePath: instancePath + "/database/steps/" + i6 + "/batch-update/table", schemaPath: "#/properties/database/properties/steps/items/properties/batch-update/properties/table/pattern", keyword: "pattern", params: { pattern: "^[a-z_][a-z0-9_$]*(\\.[a-z_][a-z0-9_$]*)?$" }, message: "must match pattern \"" + "^[a-z_][a-z0-9_$]*(\\.[a-z_][a-z0-9_$]*)?$" + "\"" };
                                            if (vErrors === null) {
                                                vErrors = [err123];
                                            }
                                            else {
                                                vErrors.push(err123);
                                            }
                                            errors++;
                                        }
                                    }
                                    else {
                                        const err124 = { instancePath: instancePath + "/database/steps/" + i6 + "/batch-update/table", schemaPath: "#/properties/database/properties/steps/items/properties/batch-update/properties/table/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                                        if (vErrors === null) {
                                            vErrors = [err124];
                                        }
                                        else {
                                            vErrors.push(err124);
                                        }
                                        errors++;
                                    }
                                }
                                let data66 = data64.key;
                                if (typeof data66 === "string") {
                                    if (!pattern17.test(data66)) {
                                        const err125 = { instancePath: instancePath + "/database/steps/" + i6 + "/batch-update/key", schemaPath: "#/properties/database/properties/steps/items/properties/batch-update/properties/key/pattern", keyword: "pattern", params: { pattern: "^[a-z_][a-z0-9_$]*(\\.[a-z_][a-z0-9_$]*)?$" }, message: "must match pattern \"" + "^[a-z_][a-z0-9_$]*(\\.[a-z_][a-z0-9_$]*)?$" + "\"" };
                                        if (vErrors === null) {
                                            vErrors = [err125];
                                        }
                                        else {
                                            vErrors.push(err125);
                                        }
                                        errors++;
                                    }
                                }
                                else {
                                    const err126 = { instancePath: instancePath + "/database/steps/" + i6 + "/batch-update/key", schemaPath: "#/properties/database/properties/steps/items/properties/batch-update/properties/key/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                                    if (vErrors === null) {
                                        vErrors = [err126];
                                    }
                                    else {
                                        vErrors.push(err126);
                                    }
                                    errors++;
                                }
                                if (data64.set !== undefined) {
                                    let data67 = data64.set;
                                    if (data67 && typeof data67 == "object" && !Array.isArray(data67)) {
                                        for (const key16 in data67) {
                                            const _errs154 = errors;
                                            if (typeof key16 === "string") {
                                                if (!pattern17.test(key16)) {
                                                    const err127 = { instancePath: instancePath + "/database/steps/" + i6 + "/batch-update/set", schemaPath: "#/properties/database/properties/steps/items/properties/batch-update/properties/set/propertyNames/pattern", keyword: "pattern", params: { pattern: "^[a-z_][a-z0-9_$]*(\\.[a-z_][a-z0-9_$]*)?$" }, message: "must match pattern \"" + "^[a-z_][a-z0-9_$]*(\\.[a-z_][a-z0-9_$]*)?$" + "\"", propertyName: key16 };
                                                    if (vErrors === null) {
                                                        vErrors = [err127];
                                                    }
                                                    else {
                                                        vErrors.push(err127);
                                                    }
                                                    errors++;
                                                }
                                            }
                                            else {
                                                const err128 = { instancePath: instancePath + "/database/steps/" + i6 + "/batch-update/set", schemaPath: "#/properties/database/properties/steps/items/properties/batch-update/properties/set/propertyNames/type", keyword: "type", params: { type: "string" }, message: "must be string", propertyName: key16 };
                                                if (vErrors === null) {
                                                    vErrors = [err128];
                                                }
                                                else {
                                                    vErrors.push(err128);
                                                }
                                                errors++;
                                            }
                                            var valid30 = _errs154 === errors;
                                            if (!valid30) {
                                                const err129 = { instancePath: instancePath + "/database/steps/" + i6 + "/batch-update/set", schemaPath: "#/properties/database/properties/steps/items/properties/batch-update/properties/set/propertyNames", keyword: "propertyNames", params: { propertyName: key16 }, message: "property name must be valid" };
                                                if (vErrors === null) {
                                                    vErrors = [err129];
                                                }
                                                else {
                                                    vErrors.push(err129);
                                                }
                                                errors++;
                                            }
                                        }
                                        for (const key17 in data67) {
                                            if (typeof data67[key17] !== "string") {
                                                const err130 = { instancePath: instancePath + "/database/steps/" + i6 + "/batch-update/set/" + key17.replace(/~/g, "~0").replace(/\//g, "~1"), schemaPath: "#/properties/database/properties/steps/items/properties/batch-update/properties/set/additionalProperties/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                                                if (vErrors === null) {
                                                    vErrors = [err130];
                                                }
                                                else {
                                                    vErrors.push(err130);
                                                }
                                                errors++;
                                            }
                                        }
                                    }
                                    else {
                                        const err131 = { instancePath: instancePath + "/database/steps/" + i6 + "/batch-update/set", schemaPath: "#/properties/database/properties/steps/items/properties/batch-update/properties/set/type", keyword: "type", params: { type: "object" }, message: "must be object" };
                                        if (vErrors === null) {
                                            vErrors = [err131];
                                        }
                                        else {
                                            vErrors.push(err131);
                                        }
                                        errors++;
                                    }
                                }
                                if (data64.where !== undefined) {
                                    let data69 = data64.where;
                                    if (typeof data69 === "string") {
                                        if (func2(data69) < 1) {
                                            const err132 = { instancePath: instancePath + "/database/steps/" + i6 + "/batch-update/where", schemaPath: "#/properties/database/properties/steps/items/properties/batch-update/properties/where/minLength", keyword: "minLength", params: { limit: 1 }, message: "must NOT have fewer than 1 characters" };
                                            if (vErrors === null) {
                                                vErrors = [err132];
                                            }
                                            else {
                                                vErrors.push(err132);
                                            }
                                            errors++;
                                        }
                                    }
                                    else {
                                        const err133 = { instancePath: instancePath + "/database/steps/" + i6 + "/batch-update/where", schemaPath: "#/properties/database/properties/steps/items/properties/batch-update/properties/where/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                                        if (vErrors === null) {
                                            vErrors = [err133];
                                        }
                                        else {
                                            vErrors.push(err133);
                                        }
                                        errors++;
                                    }
                                }
                                let data70 = data64["batch-size"];
                                if (!(((typeof data70 == "number") && (!(data70 % 1) && !isNaN(data70))) && (isFinite(data70)))) {
                                    const err134 = { instancePath: instancePath + "/database/steps/" + i6 + "/batch-update/batch-size", schemaPath: "#/properties/database/properties/steps/items/properties/batch-update/properties/batch-size/type", keyword: "type", params: { type: "integer" }, message: "must be integer" };
                                    if (vErrors === null) {
                                        vErrors = [err134];
                                    }
                                    else {
                                        vErrors.push(err134);
                                    }
                                    errors++;
                                }
                                if ((typeof data70 == "number") && (isFinite(data70))) {
                                    if (data70 > 100000 || isNaN(data70)) {
                                        const err135 = { instancePath: instancePath + "/database/steps/" + i6 + "/batch-update/batch-size", schemaPath: "#/properties/database/properties/steps/items/properties/batch-update/properties/batch-size/maximum", keyword: "maximum", params: { comparison: "<=", limit: 100000 }, message: "must be <= 100000" };
                                        if (vErrors === null) {
                                            vErrors = [err135];
                                        }
                                        else {
                                            vErrors.push(err135);
                                        }
                                        errors++;
                                    }
                                    if (data70 < 1 || isNaN(data70)) {
                                        const err136 = { instancePath: instancePath + "/database/steps/" + i6 + "/batch-update/batch-size", schemaPath: "#/properties/database/properties/steps/items/properties/batch-update/properties/batch-size/minimum", keyword: "minimum", params: { comparison: ">=", limit: 1 }, message: "must be >= 1" };
                                        if (vErrors === null) {
                                            vErrors = [err136];
                                        }
                                        else {
                                            vErrors.push(err136);
                                        }
                                        errors++;
                                    }
                                }
                                let data71 = data64.pause;
                                if (typeof data71 === "string") {
                                    if (!pattern9.test(data71)) {
                                        const err137 = { instancePath: instancePath + "/database/steps/" + i6 + "/batch-update/pause", schemaPath: "#/properties/database/properties/steps/items/properties/batch-update/properties/pause/pattern", keyword: "pattern", params: { pattern: "^\\d+(ms|s|m|h)$" }, message: "must match pattern \"" + "^\\d+(ms|s|m|h)$" + "\"" };
                                        if (vErrors === null) {
                                            vErrors = [err137];
                                        }
                                        else {
                                            vErrors.push(err137);
                                        }
                                        errors++;
                                    }
                                }
                                else {
                                    const err138 = { instancePath: instancePath + "/database/steps/" + i6 + "/batch-update/pause", schemaPath: "#/properties/database/properties/steps/items/properties/batch-update/properties/pause/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                                    if (vErrors === null) {
                                        vErrors = [err138];
                                    }
                                    else {
                                        vErrors.push(err138);
                                    }
                                    errors++;
                                }
                                let data72 = data64["max-duration"];
                                if (typeof data72 === "string") {
                                    if (!pattern9.test(data72)) {
                                        const err139 = { instancePath: instancePath + "/database/steps/" + i6 + "/batch-update/max-duration", schemaPath: "#/properties/database/properties/steps/items/properties/batch-update/properties/max-duration/pattern", keyword: "pattern", params: { pattern: "^\\d+(ms|s|m|h)$" }, message: "must match pattern \"" + "^\\d+(ms|s|m|h)$" + "\"" };
                                        if (vErrors === null) {
                                            vErrors = [err139];
                                        }
                                        else {
                                            vErrors.push(err139);
                                        }
                                        errors++;
                                    }
                                }
                                else {
                                    const err140 = { instancePath: instancePath + "/database/steps/" + i6 + "/batch-update/max-duration", schemaPath: "#/properties/database/properties/steps/items/properties/batch-update/properties/max-duration/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                                    if (vErrors === null) {
                                        vErrors = [err140];
                                    }
                                    else {
                                        vErrors.push(err140);
                                    }
                                    errors++;
                                }
                            }
                            else {
                                const err141 = { instancePath: instancePath + "/database/steps/" + i6 + "/batch-update", schemaPath: "#/properties/database/properties/steps/items/properties/batch-update/type", keyword: "type", params: { type: "object" }, message: "must be object" };
                                if (vErrors === null) {
                                    vErrors = [err141];
                                }
                                else {
                                    vErrors.push(err141);
                                }
                                errors++;
                            }
                        }
                        if (data62["drop-index"] !== undefined) {
                            let data73 = data62["drop-index"];
                            if (typeof data73 === "string") {
                                if (!pattern17.test(data73)) {
                                    const err142 = { instancePath: instancePath + "/database/steps/" + i6 + "/drop-index", schemaPath: "#/properties/database/properties/steps/items/properties/drop-index/pattern", keyword: "pattern", params: { pattern: "^[a-z_][a-z0-9_$]*(\\.[a-z_][a-z0-9_$]*)?$" }, message: "must match pattern \"" + "^[a-z_][a-z0-9_$]*(\\.[a-z_][a-z0-9_$]*)?$" + "\"" };
                                    if (vErrors === null) {
                                        vErrors = [err142];
                                    }
                                    else {
                                        vErrors.push(err142);
                                    }
                                    errors++;
                                }
                            }
                            else {
                                const err143 = { instancePath: instancePath + "/database/steps/" + i6 + "/drop-index", schemaPath: "#/properties/database/properties/steps/items/properties/drop-index/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                                if (vErrors === null) {
                                    vErrors = [err143];
                                }
                                else {
                                    vErrors.push(err143);
                                }
                                errors++;
                            }
                        }
                        if (data62.sql !== undefined) {
                            let data74 = data62.sql;
                            if (typeof data74 === "string") {
                                if (func2(data74) < 1) {
                                    const err144 = { instancePath: instancePath + "/database/steps/" + i6 + "/sql", schemaPath: "#/properties/database/properties/steps/items/properties/sql/minLength", keyword: "minLength", params: { limit: 1 }, message: "must NOT have fewer than 1 characters" };
                                    if (vErrors === null) {
                                        vErrors = [err144];
                                    }
                                    else {
                                        vErrors.push(err144);
                                    }
                                    errors++;
                                }
                            }
                            else {
                                const err145 = { instancePath: instancePath + "/database/steps/" + i6 + "/sql", schemaPath: "#/properties/database/properties/steps/items/properties/sql/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                                if (vErrors === null) {
                                    vErrors = [err145];
                                }
                                else {
                                    vErrors.push(err145);
                                }
                                errors++;
                            }
                        }
                        if (data62["acknowledge-data-loss"] !== undefined) {
                            if (typeof data62["acknowledge-data-loss"] !== "boolean") {
                                const err146 = { instancePath: instancePath + "/database/steps/" + i6 + "/acknowledge-data-loss", schemaPath: "#/properties/database/properties/steps/items/properties/acknowledge-data-loss/type", keyword: "type", params: { type: "boolean" }, message: "must be boolean" };
                                if (vErrors === null) {
                                    vErrors = [err146];
                                }
                                else {
                                    vErrors.push(err146);
                                }
                                errors++;
                            }
                        }
                    }
                    else {
                        const err147 = { instancePath: instancePath + "/database/steps/" + i6, schemaPath: "#/properties/database/properties/steps/items/type", keyword: "type", params: { type: "object" }, message: "must be object" };
                        if (vErrors === null) {
                            vErrors = [err147];
                        }
                        else {
                            vErrors.push(err147);
                        }
                        errors++;
                    }
                }
            }
            else {
                const err148 = { instancePath: instancePath + "/database/steps", schemaPath: "#/properties/database/properties/steps/type", keyword: "type", params: { type: "array" }, message: "must be array" };
                if (vErrors === null) {
                    vErrors = [err148];
                }
                else {
                    vErrors.push(err148);
                }
                errors++;
            }
        }
        else {
            const err149 = { instancePath: instancePath + "/database", schemaPath: "#/properties/database/type", keyword: "type", params: { type: "object" }, message: "must be object" };
            if (vErrors === null) {
                vErrors = [err149];
            }
            else {
                vErrors.push(err149);
            }
            errors++;
        }
    }
    if (data.git !== undefined) {
        let data76 = data.git;
        if (data76 && typeof data76 == "object" && !Array.isArray(data76)) {
            if (data76.remote === undefined) {
                data76.remote = "origin";
            }
            if (data76.branch === undefined) {
                data76.branch = "main";
            }
            if (data76.strategy === undefined) {
                data76.strategy = "revert";
            }
            if (data76["revert-mode"] === undefined) {
                data76["revert-mode"] = "single";
            }
            if (data76["backup-ref-prefix"] === undefined) {
                data76["backup-ref-prefix"] = "refs/rollback/backup";
            }
            for (const key18 in data76) {
                if (!((((((((key18 === "remote") || (key18 === "branch")) || (key18 === "strategy")) || (key18 === "revert")) || (key18 === "reset-to")) || (key18 === "revert-mode")) || (key18 === "mainline")) || (key18 === "backup-ref-prefix"))) {
                    const err150 = { instancePath: instancePath + "/git", schemaPath: "#/properties/git/additionalProperties", keyword: "additionalProperties", params: { additionalProperty: key18 }, message: "must NOT have additional properties" };
                    if (vErrors === null) {
                        vErrors = [err150];
                    }
                    else {
                        vErrors.push(err150);
                    }
                    errors++;
                }
            }
            if (typeof data76.remote !== "string") {
                const err151 = { instancePath: instancePath + "/git/remote", schemaPath: "#/properties/git/properties/remote/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                if (vErrors === null) {
                    vErrors = [err151];
                }
                else {
                    vErrors.push(err151);
                }
                errors++;
            }
            let data78 = data76.branch;
            if (typeof data78 === "string") {
                if (!pattern7.test(data78)) {
                    const err152 = { instancePath: instancePath + "/git/branch", schemaPath: "#/properties/git/properties/branch/pattern", keyword: "pattern", params: { pattern: "^(?!-)(?!.*\\.\\.)[A-Za-z0-9._/-]*[A-Za-z0-9._-]$" }, message: "must match pattern \"" + "^(?!-)(?!.*\\.\\.)[A-Za-z0-9._/-]*[A-Za-z0-9._-]$" + "\"" };
                    if (vErrors === null) {
                        vErrors = [err152];
                    }
                    else {
                        vErrors.push(err152);
                    }
                    errors++;
                }
            }
            else {
                const err153 = { instancePath: instancePath + "/git/branch", schemaPath: "#/properties/git/properties/branch/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                if (vErrors === null) {
                    vErrors = [err153];
                }
                else {
                    vErrors.push(err153);
                }
                errors++;
            }
            let data79 = data76.strategy;
            if (typeof data79 !== "string") {
                const err154 = { instancePath: instancePath + "/git/strategy", schemaPath: "#/properties/git/properties/strategy/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                if (vErrors === null) {
                    vErrors = [err154];
                }
                else {
                    vErrors.push(err154);
                }
                errors++;
            }
            if (!((data79 === "revert") || (data79 === "reset"))) {
                const err155 = { instancePath: instancePath + "/git/strategy", schemaPath: "#/properties/git/properties/strategy/enum", keyword: "enum", params: { allowedValues: schema31.properties.git.properties.strategy.enum }, message: "must be equal to one of the allowed values" };
                if (vErrors === null) {
                    vErrors = [err155];
                }
                else {
                    vErrors.push(err155);
                }
                errors++;
            }
            if (data76.revert !== undefined) {
                if (typeof data76.revert !== "string") {
                    const err156 = { instancePath: instancePath + "/git/revert", schemaPath: "#/properties/git/properties/revert/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                    if (vErrors === null) {
                        vErrors = [err156];
                    }
                    else {
                        vErrors.push(err156);
                    }
                    errors++;
                }
            }
            if (data76["reset-to"] !== undefined) {
                if (typeof data76["reset-to"] !== "string") {
                    const err157 = { instancePath: instancePath + "/git/reset-to", schemaPath: "#/properties/git/properties/reset-to/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                    if (vErrors === null) {
                        vErrors = [err157];
                    }
                    else {
                        vErrors.push(err157);
                    }
                    errors++;
                }
            }
            let data82 = data76["revert-mode"];
            if (typeof data82 !== "string") {
                const err158 = { instancePath: instancePath + "/git/revert-mode", schemaPath: "#/properties/git/properties/revert-mode/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                if (vErrors === null) {
                    vErrors = [err158];
                }
                else {
                    vErrors.push(err158);
                }
                errors++;
            }
            if (!((data82 === "single") || (data82 === "per-commit"))) {
                const err159 = { instancePath: instancePath + "/git/revert-mode", schemaPath: "#/properties/git/properties/revert-mode/enum", keyword: "enum", params: { allowedValues: schema31.properties.git.properties["revert-mode"].enum }, message: "must be equal to one of the allowed values" };
                if (vErrors === null) {
                    vErrors = [err159];
                }
                else {
                    vErrors.push(err159);
                }
                errors++;
            }
            if (data76.mainline !== undefined) {
                let data83 = data76.mainline;
                if (!(((typeof data83 == "number") && (!(data83 % 1) && !isNaN(data83))) && (isFinite(data83)))) {
                    const err160 = { instancePath: instancePath + "/git/mainline", schemaPath: "#/properties/git/properties/mainline/type", keyword: "type", params: { type: "integer" }, message: "must be integer" };
                    if (vErrors === null) {
                        vErrors = [err160];
                    }
                    else {
                        vErrors.push(err160);
                    }
                    errors++;
                }
                if ((typeof data83 == "number") && (isFinite(data83))) {
                    if (data83 > 9007199254740991 || isNaN(data83)) {
                        const err161 = { instancePath: instancePath + "/git/mainline", schemaPath: "#/properties/git/properties/mainline/maximum", keyword: "maximum", params: { comparison: "<=", limit: 9007199254740991 }, message: "must be <= 9007199254740991" };
                        if (vErrors === null) {
                            vErrors = [err161];
                        }
                        else {
                            vErrors.push(err161);
                        }
                        errors++;
                    }
                    if (data83 < 1 || isNaN(data83)) {
                        const err162 = { instancePath: instancePath + "/git/mainline", schemaPath: "#/properties/git/properties/mainline/minimum", keyword: "minimum", params: { comparison: ">=", limit: 1 }, message: "must be >= 1" };
                        if (vErrors === null) {
                            vErrors = [err162];
                        }
                        else {
                            vErrors.push(err162);
                        }
                        errors++;
                    }
                }
            }
            if (typeof data76["backup-ref-prefix"] !== "string") {
                const err163 = { instancePath: instancePath + "/git/backup-ref-prefix", schemaPath: "#/properties/git/properties/backup-ref-prefix/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                if (vErrors === null) {
                    vErrors = [err163];
                }
                else {
                    vErrors.push(err163);
                }
                errors++;
            }
        }
        else {
            const err164 = { instancePath: instancePath + "/git", schemaPath: "#/properties/git/type", keyword: "type", params: { type: "object" }, message: "must be object" };
            if (vErrors === null) {
                vErrors = [err164];
            }
            else {
                vErrors.push(err164);
            }
            errors++;
        }
    }
    if (data.schema !== undefined) {
        let data85 = data.schema;
        if (Array.isArray(data85)) {
            const len7 = data85.length;
            for (let i7 = 0; i7 < len7; i7++) {
                let data86 = data85[i7];
                if (data86 && typeof data86 == "object" && !Array.isArray(data86)) {
                    if (data86.key === undefined) {
                        data86.key = "id";
                    }
                    if (data86["drop-columns"] === undefined) {
                        data86["drop-columns"] = [];
                    }
                    if (data86["drop-indexes"] === undefined) {
                        data86["drop-indexes"] = [];
                    }
                    if (data86.table === undefined) {
                        const err165 = { instancePath: instancePath + "/schema/" + i7, schemaPath: "#/properties/schema/items/required", keyword: "required", params: { missingProperty: "table" }, message: "must have required property '" + "table" + "'" };
                        if (vErrors === null) {
                            vErrors = [err165];
                        }
                        else {
                            vErrors.push(err165);
                        }
                        errors++;
                    }
                    for (const key19 in data86) {
                        if (!(((((key19 === "table") || (key19 === "key")) || (key19 === "drop-columns")) || (key19 === "drop-indexes")) || (key19 === "backup-table"))) {
                            const err166 = { instancePath: instancePath + "/schema/" + i7, schemaPath: "#/properties/schema/items/additionalProperties", keyword: "additionalProperties", params: { additionalProperty: key19 }, message: "must NOT have additional properties" };
                            if (vErrors === null) {
                                vErrors = [err166];
                            }
                            else {
                                vErrors.push(err166);
                            }
                            errors++;
                        }
                    }
                    if (data86.table !== undefined) {
                        let data87 = data86.table;
                        if (typeof data87 === "string") {
                            if (!pattern17.test(data87)) {
                                const err167 = { instancePath: instancePath + "/schema/" + i7 + "/table", schemaPath: "#/properties/schema/items/properties/table/pattern", keyword: "pattern", params: { pattern: "^[a-z_][a-z0-9_$]*(\\.[a-z_][a-z0-9_$]*)?$" }, message: "must match pattern \"" + "^[a-z_][a-z0-9_$]*(\\.[a-z_][a-z0-9_$]*)?$" + "\"" };
                                if (vErrors === null) {
                                    vErrors = [err167];
                                }
                                else {
                                    vErrors.push(err167);
                                }
                                errors++;
                            }
                        }
                        else {
                            const err168 = { instancePath: instancePath + "/schema/" + i7 + "/table", schemaPath: "#/properties/schema/items/properties/table/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                            if (vErrors === null) {
                                vErrors = [err168];
                            }
                            else {
                                vErrors.push(err168);
                            }
                            errors++;
                        }
                    }
                    let data88 = data86.key;
                    if (typeof data88 === "string") {
                        if (!pattern17.test(data88)) {
                            const err169 = { instancePath: instancePath + "/schema/" + i7 + "/key", schemaPath: "#/properties/schema/items/properties/key/pattern", keyword: "pattern", params: { pattern: "^[a-z_][a-z0-9_$]*(\\.[a-z_][a-z0-9_$]*)?$" }, message: "must match pattern \"" + "^[a-z_][a-z0-9_$]*(\\.[a-z_][a-z0-9_$]*)?$" + "\"" };
                            if (vErrors === null) {
                                vErrors = [err169];
                            }
                            else {
                                vErrors.push(err169);
                            }
                            errors++;
                        }
                    }
                    else {
                        const err170 = { instancePath: instancePath + "/schema/" + i7 + "/key", schemaPath: "#/properties/schema/items/properties/key/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                        if (vErrors === null) {
                            vErrors = [err170];
                        }
                        else {
                            vErrors.push(err170);
                        }
                        errors++;
                    }
                    let data89 = data86["drop-columns"];
                    if (Array.isArray(data89)) {
                        const len8 = data89.length;
                        for (let i8 = 0; i8 < len8; i8++) {
                            let data90 = data89[i8];
                            if (typeof data90 === "string") {
                                if (!pattern17.test(data90)) {
                                    const err171 = { instancePath: instancePath + "/schema/" + i7 + "/drop-columns/" + i8, schemaPath: "#/properties/schema/items/properties/drop-columns/items/pattern", keyword: "pattern", params: { pattern: "^[a-z_][a-z0-9_$]*(\\.[a-z_][a-z0-9_$]*)?$" }, message: "must match pattern \"" + "^[a-z_][a-z0-9_$]*(\\.[a-z_][a-z0-9_$]*)?$" + "\"" };
                                    if (vErrors === null) {
                                        vErrors = [err171];
                                    }
                                    else {
                                        vErrors.push(err171);
                                    }
                                    errors++;
                                }
                            }
                            else {
                                const err172 = { instancePath: instancePath + "/schema/" + i7 + "/drop-columns/" + i8, schemaPath: "#/properties/schema/items/properties/drop-columns/items/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                                if (vErrors === null) {
                                    vErrors = [err172];
                                }
                                else {
                                    vErrors.push(err172);
                                }
                                errors++;
                            }
                        }
                    }
                    else {
                        const err173 = { instancePath: instancePath + "/schema/" + i7 + "/drop-columns", schemaPath: "#/properties/schema/items/properties/drop-columns/type", keyword: "type", params: { type: "array" }, message: "must be array" };
                        if (vErrors === null) {
                            vErrors = [err173];
                        }
                        else {
                            vErrors.push(err173);
                        }
                        errors++;
                    }
                    let data91 = data86["drop-indexes"];
                    if (Array.isArray(data91)) {
                        const len9 = data91.length;
                        for (let i9 = 0; i9 < len9; i9++) {
                            let data92 = data91[i9];
                            if (typeof data92 === "string") {
                                if (!pattern17.test(data92)) {
                                    const err174 = { instancePath: instancePath + "/schema/" + i7 + "/drop-indexes/" + i9, schemaPath: "#/properties/schema/items/properties/drop-indexes/items/pattern", keyword: "pattern", params: { pattern: "^[a-z_][a-z0-9_$]*(\\.[a-z_][a-z0-9_$]*)?$" }, message: "must match pattern \"" + "^[a-z_][a-z0-9_$]*(\\.[a-z_][a-z0-9_$]*)?$" + "\"" };
                                    if (vErrors === null) {
                                        vErrors = [err174];
                                    }
                                    else {
                                        vErrors.push(err174);
                                    }
                                    errors++;
                                }
                            }
                            else {
                                const err175 = { instancePath: instancePath + "/schema/" + i7 + "/drop-indexes/" + i9, schemaPath: "#/properties/schema/items/properties/drop-indexes/items/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                                if (vErrors === null) {
                                    vErrors = [err175];
                                }
                                else {
                                    vErrors.push(err175);
                                }
                                errors++;
                            }
                        }
                    }
                    else {
                        const err176 = { instancePath: instancePath + "/schema/" + i7 + "/drop-indexes", schemaPath: "#/properties/schema/items/properties/drop-indexes/type", keyword: "type", params: { type: "array" }, message: "must be array" };
                        if (vErrors === null) {
                            vErrors = [err176];
                        }
                        else {
                            vErrors.push(err176);
                        }
                        errors++;
                    }
                    if (data86["backup-table"] !== undefined) {
                        let data93 = data86["backup-table"];
                        if (typeof data93 === "string") {
                            if (!pattern17.test(data93)) {
                                const err177 = { instancePath: instancePath + "/schema/" + i7 + "/backup-table", schemaPath: "#/properties/schema/items/properties/backup-table/pattern", keyword: "pattern", params: { pattern: "^[a-z_][a-z0-9_$]*(\\.[a-z_][a-z0-9_$]*)?$" }, message: "must match pattern \"" + "^[a-z_][a-z0-9_$]*(\\.[a-z_][a-z0-9_$]*)?$" + "\"" };
                                if (vErrors === null) {
                                    vErrors = [err177];
                                }
                                else {
                                    vErrors.push(err177);
                                }
                                errors++;
                            }
                        }
                        else {
                            const err178 = { instancePath: instancePath + "/schema/" + i7 + "/backup-table", schemaPath: "#/properties/schema/items/properties/backup-table/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                            if (vErrors === null) {
                                vErrors = [err178];
                            }
                            else {
                                vErrors.push(err178);
                            }
                            errors++;
                        }
                    }
                }
                else {
                    const err179 = { instancePath: instancePath + "/schema/" + i7, schemaPath: "#/properties/schema/items/type", keyword: "type", params: { type: "object" }, message: "must be object" };
                    if (vErrors === null) {
                        vErrors = [err179];
                    }
                    else {
                        vErrors.push(err179);
                    }
                    errors++;
                }
            }
        }
        else {
            const err180 = { instancePath: instancePath + "/schema", schemaPath: "#/properties/schema/type", keyword: "type", params: { type: "array" }, message: "must be array" };
            if (vErrors === null) {
                vErrors = [err180];
            }
            else {
                vErrors.push(err180);
            }
            errors++;
        }
    }
    if (data.integrity !== undefined) {
        let data94 = data.integrity;
        if (Array.isArray(data94)) {
            const len10 = data94.length;
            for (let i10 = 0; i10 < len10; i10++) {
                let data95 = data94[i10];
                if (data95 && typeof data95 == "object" && !Array.isArray(data95)) {
                    if (data95.when === undefined) {
                        data95.when = ["before", "after"];
                    }
                    if (data95["on-fail"] === undefined) {
                        data95["on-fail"] = "fail";
                    }
                    if (data95.name === undefined) {
                        const err181 = { instancePath: instancePath + "/integrity/" + i10, schemaPath: "#/properties/integrity/items/required", keyword: "required", params: { missingProperty: "name" }, message: "must have required property '" + "name" + "'" };
                        if (vErrors === null) {
                            vErrors = [err181];
                        }
                        else {
                            vErrors.push(err181);
                        }
                        errors++;
                    }
                    if (data95.sql === undefined) {
                        const err182 = { instancePath: instancePath + "/integrity/" + i10, schemaPath: "#/properties/integrity/items/required", keyword: "required", params: { missingProperty: "sql" }, message: "must have required property '" + "sql" + "'" };
                        if (vErrors === null) {
                            vErrors = [err182];
                        }
                        else {
                            vErrors.push(err182);
                        }
                        errors++;
                    }
                    if (data95.expect === undefined) {
                        const err183 = { instancePath: instancePath + "/integrity/" + i10, schemaPath: "#/properties/integrity/items/required", keyword: "required", params: { missingProperty: "expect" }, message: "must have required property '" + "expect" + "'" };
                        if (vErrors === null) {
                            vErrors = [err183];
                        }
                        else {
                            vErrors.push(err183);
                        }
                        errors++;
                    }
                    for (const key20 in data95) {
                        if (!(((((key20 === "name") || (key20 === "sql")) || (key20 === "expect")) || (key20 === "when")) || (key20 === "on-fail"))) {
                            const err184 = { instancePath: instancePath + "/integrity/" + i10, schemaPath: "#/properties/integrity/items/additionalProperties", keyword: "additionalProperties", params: { additionalProperty: key20 }, message: "must NOT have additional properties" };
                            if (vErrors === null) {
                                vErrors = [err184];
                            }
                            else {
                                vErrors.push(err184);
                            }
                            errors++;
                        }
                    }
                    if (data95.name !== undefined) {
                        let data96 = data95.name;
                        if (typeof data96 === "string") {
                            if (func2(data96) < 1) {
                                const err185 = { instancePath: instancePath + "/integrity/" + i10 + "/name", schemaPath: "#/properties/integrity/items/properties/name/minLength", keyword: "minLength", params: { limit: 1 }, message: "must NOT have fewer than 1 characters" };
                                if (vErrors === null) {
                                    vErrors = [err185];
                                }
                                else {
                                    vErrors.push(err185);
                                }
                                errors++;
                            }
                        }
                        else {
                            const err186 = { instancePath: instancePath + "/integrity/" + i10 + "/name", schemaPath: "#/properties/integrity/items/properties/name/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                            if (vErrors === null) {
                                vErrors = [err186];
                            }
                            else {
                                vErrors.push(err186);
                            }
                            errors++;
                        }
                    }
                    if (data95.sql !== undefined) {
                        let data97 = data95.sql;
                        if (typeof data97 === "string") {
                            if (func2(data97) < 1) {
                                const err187 = { instancePath: instancePath + "/integrity/" + i10 + "/sql", schemaPath: "#/properties/integrity/items/properties/sql/minLength", keyword: "minLength", params: { limit: 1 }, message: "must NOT have fewer than 1 characters" };
                                if (vErrors === null) {
                                    vErrors = [err187];
                                }
                                else {
                                    vErrors.push(err187);
                                }
                                errors++;
                            }
                        }
                        else {
                            const err188 = { instancePath: instancePath + "/integrity/" + i10 + "/sql", schemaPath: "#/properties/integrity/items/properties/sql/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                            if (vErrors === null) {
                                vErrors = [err188];
                            }
                            else {
                                vErrors.push(err188);
                            }
                            errors++;
                        }
                    }
                    if (data95.expect !== undefined) {
                        let data98 = data95.expect;
                        if (data98 && typeof data98 == "object" && !Array.isArray(data98)) {
                            for (const key21 in data98) {
                                if (!(((key21 === "rows") || (key21 === "max-rows")) || (key21 === "value"))) {
                                    const err189 = { instancePath: instancePath + "/integrity/" + i10 + "/expect", schemaPath: "#/properties/integrity/items/properties/expect/additionalProperties", keyword: "additionalProperties", params: { additionalProperty: key21 }, message: "must NOT have additional properties" };
                                    if (vErrors === null) {
                                        vErrors = [err189];
                                    }
                                    else {
                                        vErrors.push(err189);
                                    }
                                    errors++;
                                }
                            }
                            if (data98.rows !== undefined) {
                                let data99 = data98.rows;
                                if (!(((typeof data99 == "number") && (!(data99 % 1) && !isNaN(data99))) && (isFinite(data99)))) {
                                    const err190 = { instancePath: instancePath + "/integrity/" + i10 + "/expect/rows", schemaPath: "#/properties/integrity/items/properties/expect/properties/rows/type", keyword: "type", params: { type: "integer" }, message: "must be integer" };
                                    if (vErrors === null) {
                                        vErrors = [err190];
                                    }
                                    else {
                                        vErrors.push(err190);
                                    }
                                    errors++;
                                }
                                if ((typeof data99 == "number") && (isFinite(data99))) {
                                    if (data99 > 9007199254740991 || isNaN(data99)) {
                                        const err191 = { instancePath: instancePath + "/integrity/" + i10 + "/expect/rows", schemaPath: "#/properties/integrity/items/properties/expect/properties/rows/maximum", keyword: "maximum", params: { comparison: "<=", limit: 9007199254740991 }, message: "must be <= 9007199254740991" };
                                        if (vErrors === null) {
                                            vErrors = [err191];
                                        }
                                        else {
                                            vErrors.push(err191);
                                        }
                                        errors++;
                                    }
                                    if (data99 < 0 || isNaN(data99)) {
                                        const err192 = { instancePath: instancePath + "/integrity/" + i10 + "/expect/rows", schemaPath: "#/properties/integrity/items/properties/expect/properties/rows/minimum", keyword: "minimum", params: { comparison: ">=", limit: 0 }, message: "must be >= 0" };
                                        if (vErrors === null) {
                                            vErrors = [err192];
                                        }
                                        else {
                                            vErrors.push(err192);
                                        }
                                        errors++;
                                    }
                                }
                            }
                            if (data98["max-rows"] !== undefined) {
                                let data100 = data98["max-rows"];
                                if (!(((typeof data100 == "number") && (!(data100 % 1) && !isNaN(data100))) && (isFinite(data100)))) {
                                    const err193 = { instancePath: instancePath + "/integrity/" + i10 + "/expect/max-rows", schemaPath: "#/properties/integrity/items/properties/expect/properties/max-rows/type", keyword: "type", params: { type: "integer" }, message: "must be integer" };
                                    if (vErrors === null) {
                                        vErrors = [err193];
                                    }
                                    else {
                                        vErrors.push(err193);
                                    }
                                    errors++;
                                }
                                if ((typeof data100 == "number") && (isFinite(data100))) {
                                    if (data100 > 9007199254740991 || isNaN(data100)) {
                                        const err194 = { instancePath: instancePath + "/integrity/" + i10 + "/expect/max-rows", schemaPath: "#/properties/integrity/items/properties/expect/properties/max-rows/maximum", keyword: "maximum", params: { comparison: "<=", limit: 9007199254740991 }, message: "must be <= 9007199254740991" };
                                        if (vErrors === null) {
                                            vErrors = [err194];
                                        }
                                        else {
                                            vErrors.push(err194);
                                        }
                                        errors++;
                                    }
                                    if (data100 < 0 || isNaN(data100)) {
                                        const err195 = { instancePath: instancePath + "/integrity/" + i10 + "/expect/max-rows", schemaPath: "#/properties/integrity/items/properties/expect/properties/max-rows/minimum", keyword: "minimum", params: { comparison: ">=", limit: 0 }, message: "must be >= 0" };
                                        if (vErrors === null) {
                                            vErrors = [err195];
                                        }
                                        else {
                                            vErrors.push(err195);
                                        }
                                        errors++;
                                    }
                                }
                            }
                            if (data98.value !== undefined) {
                                let data101 = data98.value;
                                if (((typeof data101 !== "string") && (!((typeof data101 == "number") && (isFinite(data101))))) && (typeof data101 !== "boolean")) {
                                    const err196 = { instancePath: instancePath + "/integrity/" + i10 + "/expect/value", schemaPath: "#/properties/integrity/items/properties/expect/properties/value/type", keyword: "type", params: { type: schema31.properties.integrity.items.properties.expect.properties.value.type }, message: "must be string,number,boolean" };
                                    if (vErrors === null) {
                                        vErrors = [err196];
                                    }
                                    else {
                                        vErrors.push(err196);
                                    }
                                    errors++;
                                }
                            }
                        }
                        else {
                            const err197 = { instancePath: instancePath + "/integrity/" + i10 + "/expect", schemaPath: "#/properties/integrity/items/properties/expect/type", keyword: "type", params: { type: "object" }, message: "must be object" };
                            if (vErrors === null) {
                                vErrors = [err197];
                            }
                            else {
                                vErrors.push(err197);
                            }
                            errors++;
                        }
                    }
                    let data102 = data95.when;
                    if (Array.isArray(data102)) {
                        if (data102.length < 1) {
                            const err198 = { instancePath: instancePath + "/integrity/" + i10 + "/when", schemaPath: "#/properties/integrity/items/properties/when/minItems", keyword: "minItems", params: { limit: 1 }, message: "must NOT have fewer than 1 items" };
                            if (vErrors === null) {
                                vErrors = [err198];
                            }
                            else {
                                vErrors.push(err198);
                            }
                            errors++;
                        }
                        const len11 = data102.length;
                        for (let i11 = 0; i11 < len11; i11++) {
                            let data103 = data102[i11];
                            if (typeof data103 !== "string") {
                                const err199 = { instancePath: instancePath + "/integrity/" + i10 + "/when/" + i11, schemaPath: "#/properties/integrity/items/properties/when/items/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                                if (vErrors === null) {
                                    vErrors = [err199];
                                }
                                else {
                                    vErrors.push(err199);
                                }
                                errors++;
                            }
                            if (!((data103 === "before") || (data103 === "after"))) {
                                const err200 = { instancePath: instancePath + "/integrity/" + i10 + "/when/" + i11, schemaPath: "#/properties/integrity/items/properties/when/items/enum", keyword: "enum", params: { allowedValues: schema31.properties.integrity.items.properties.when.items.enum }, message: "must be equal to one of the allowed values" };
                                if (vErrors === null) {
                                    vErrors = [err200];
                                }
                                else {
                                    vErrors.push(err200);
                                }
                                errors++;
                            }
                        }
                    }
                    else {
                        const err201 = { instancePath: instancePath + "/integrity/" + i10 + "/when", schemaPath: "#/properties/integrity/items/properties/when/type", keyword: "type", params: { type: "array" }, message: "must be array" };
                        if (vErrors === null) {
                            vErrors = [err201];
                        }
                        else {
                            vErrors.push(err201);
                        }
                        errors++;
                    }
                    let data104 = data95["on-fail"];
                    if (typeof data104 !== "string") {
                        const err202 = { instancePath: instancePath + "/integrity/" + i10 + "/on-fail", schemaPath: "#/properties/integrity/items/properties/on-fail/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                        if (vErrors === null) {
                            vErrors = [err202];
                        }
                        else {
                            vErrors.push(err202);
                        }
                        errors++;
                    }
                    if (!((data104 === "fail") || (data104 === "warn"))) {
                        const err203 = { instancePath: instancePath + "/integrity/" + i10 + "/on-fail", schemaPath: "#/properties/integrity/items/properties/on-fail/enum", keyword: "enum", params: { allowedValues: schema31.properties.integrity.items.properties["on-fail"].enum }, message: "must be equal to one of the allowed values" };
                        if (vErrors === null) {
                            vErrors = [err203];
                        }
                        else {
                            vErrors.push(err203);
                        }
                        errors++;
                    }
                }
                else {
                    const err204 = { instancePath: instancePath + "/integrity/" + i10, schemaPath: "#/properties/integrity/items/type", keyword: "type", params: { type: "object" }, message: "must be object" };
                    if (vErrors === null) {
                        vErrors = [err204];
                    }
                    else {
                        vErrors.push(err204);
                    }
                    errors++;
                }
            }
        }
        else {
            const err205 = { instancePath: instancePath + "/integrity", schemaPath: "#/properties/integrity/type", keyword: "type", params: { type: "array" }, message: "must be array" };
            if (vErrors === null) {
                vErrors = [err205];
            }
            else {
                vErrors.push(err205);
            }
            errors++;
        }
    }
    if (data.files !== undefined) {
        let data105 = data.files;
        if (data105 && typeof data105 == "object" && !Array.isArray(data105)) {
            if (data105.protect === undefined) {
                data105.protect = [];
            }
            if (data105.remove === undefined) {
                data105.remove = [];
            }
            for (const key22 in data105) {
                if (!((key22 === "protect") || (key22 === "remove"))) {
                    const err206 = { instancePath: instancePath + "/files", schemaPath: "#/properties/files/additionalProperties", keyword: "additionalProperties", params: { additionalProperty: key22 }, message: "must NOT have additional properties" };
                    if (vErrors === null) {
                        vErrors = [err206];
                    }
                    else {
                        vErrors.push(err206);
                    }
                    errors++;
                }
            }
            let data106 = data105.protect;
            if (Array.isArray(data106)) {
                const len12 = data106.length;
                for (let i12 = 0; i12 < len12; i12++) {
                    let data107 = data106[i12];
                    if (typeof data107 === "string") {
                        if (func2(data107) < 1) {
                            const err207 = { instancePath: instancePath + "/files/protect/" + i12, schemaPath: "#/properties/files/properties/protect/items/minLength", keyword: "minLength", params: { limit: 1 }, message: "must NOT have fewer than 1 characters" };
                            if (vErrors === null) {
                                vErrors = [err207];
                            }
                            else {
                                vErrors.push(err207);
                            }
                            errors++;
                        }
                    }
                    else {
                        const err208 = { instancePath: instancePath + "/files/protect/" + i12, schemaPath: "#/properties/files/properties/protect/items/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                        if (vErrors === null) {
                            vErrors = [err208];
                        }
                        else {
                            vErrors.push(err208);
                        }
                        errors++;
                    }
                }
            }
            else {
                const err209 = { instancePath: instancePath + "/files/protect", schemaPath: "#/properties/files/properties/protect/type", keyword: "type", params: { type: "array" }, message: "must be array" };
                if (vErrors === null) {
                    vErrors = [err209];
                }
                else {
                    vErrors.push(err209);
                }
                errors++;
            }
            let data108 = data105.remove;
            if (Array.isArray(data108)) {
                const len13 = data108.length;
                for (let i13 = 0; i13 < len13; i13++) {
                    let data109 = data108[i13];
                    if (typeof data109 === "string") {
                        if (func2(data109) < 1) {
                            const err210 = { instancePath: instancePath + "/files/remove/" + i13, schemaPath: "#/properties/files/properties/remove/items/minLength", keyword: "minLength", params: { limit: 1 }, message: "must NOT have fewer than 1 characters" };
                            if (vErrors === null) {
                                vErrors = [err210];
                            }
                            else {
                                vErrors.push(err210);
                            }
                            errors++;
                        }
                    }
                    else {
                        const err211 = { instancePath: instancePath + "/files/remove/" + i13, schemaPath: "#/properties/files/properties/remove/items/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                        if (vErrors === null) {
                            vErrors = [err211];
                        }
                        else {
                            vErrors.push(err211);
                        }
                        errors++;
                    }
                }
            }
            else {
                const err212 = { instancePath: instancePath + "/files/remove", schemaPath: "#/properties/files/properties/remove/type", keyword: "type", params: { type: "array" }, message: "must be array" };
                if (vErrors === null) {
                    vErrors = [err212];
                }
                else {
                    vErrors.push(err212);
                }
                errors++;
            }
        }
        else {
            const err213 = { instancePath: instancePath + "/files", schemaPath: "#/properties/files/type", keyword: "type", params: { type: "object" }, message: "must be object" };
            if (vErrors === null) {
                vErrors = [err213];
            }
            else {
                vErrors.push(err213);
            }
            errors++;
        }
    }
    if (data.monitor !== undefined) {
        let data110 = data.monitor;
        if (data110 && typeof data110 == "object" && !Array.isArray(data110)) {
            if (data110.duration === undefined) {
                data110.duration = "5m";
            }
            if (data110.interval === undefined) {
                data110.interval = "30s";
            }
            if (data110.health === undefined) {
                data110.health = [];
            }
            if (data110.metrics === undefined) {
                data110.metrics = [];
            }
            if (data110["max-error-rate"] === undefined) {
                data110["max-error-rate"] = 0.1;
            }
            for (const key23 in data110) {
                if (!(((((key23 === "duration") || (key23 === "interval")) || (key23 === "health")) || (key23 === "metrics")) || (key23 === "max-error-rate"))) {
                    const err214 = { instancePath: instancePath + "/monitor", schemaPath: "#/properties/monitor/additionalProperties", keyword: "additionalProperties", params: { additionalProperty: key23 }, message: "must NOT have additional properties" };
                    if (vErrors === null) {
                        vErrors = [err214];
                    }
                    else {
                        vErrors.push(err214);
                    }
                    errors++;
                }
            }
            let data111 = data110.duration;
            if (typeof data111 === "string") {
                if (!pattern9.test(data111)) {
                    const err215 = { instancePath: instancePath + "/monitor/duration", schemaPath: "#/properties/monitor/properties/duration/pattern", keyword: "pattern", params: { pattern: "^\\d+(ms|s|m|h)$" }, message: "must match pattern \"" + "^\\d+(ms|s|m|h)$" + "\"" };
                    if (vErrors === null) {
                        vErrors = [err215];
                    }
                    else {
                        vErrors.push(err215);
                    }
                    errors++;
                }
            }
            else {
                const err216 = { instancePath: instancePath + "/monitor/duration", schemaPath: "#/properties/monitor/properties/duration/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                if (vErrors === null) {
                    vErrors = [err216];
                }
                else {
                    vErrors.push(err216);
                }
                errors++;
            }
            let data112 = data110.interval;
            if (typeof data112 === "string") {
                if (!pattern9.test(data112)) {
                    const err217 = { instancePath: instancePath + "/monitor/interval", schemaPath: "#/properties/monitor/properties/interval/pattern", keyword: "pattern", params: { pattern: "^\\d+(ms|s|m|h)$" }, message: "must match pattern \"" + "^\\d+(ms|s|m|h)$" + "\"" };
                    if (vErrors === null) {
                        vErrors = [err217];
                    }
                    else {
                        vErrors.push(err217);
                    }
                    errors++;
                }
            }
            else {
                const err218 = { instancePath: instancePath + "/monitor/interval", schemaPath: "#/properties/monitor/properties/interval/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                if (vErrors === null) {
                    vErrors = [err218];
                }
                else {
                    vErrors.push(err218);
                }
                errors++;
            }
            let data113 = data110.health;
            if (Array.isArray(data113)) {
                const len14 = data113.length;
                for (let i14 = 0; i14 < len14; i14++) {
                    let data114 = data113[i14];
                    if (data114 && typeof data114 == "object" && !Array.isArray(data114)) {
                        if (data114["expect-status"] === undefined) {
                            data114["expect-status"] = 200;
                        }
                        if (data114.timeout === undefined) {
                            data114.timeout = "5m";
                        }
                        if (data114.interval === undefined) {
                            data114.interval = "10s";
                        }
                        if (data114.name === undefined) {
                            const err219 = { instancePath: instancePath + "/monitor/health/" + i14, schemaPath: "#/properties/monitor/properties/health/items/required", keyword: "required", params: { missingProperty: "name" }, message: "must have required property '" + "name" + "'" };
                            if (vErrors === null) {
                                vErrors = [err219];
                            }
                            else {
                                vErrors.push(err219);
                            }
                            errors++;
                        }
                        if (data114.url === undefined) {
                            const err220 = { instancePath: instancePath + "/monitor/health/" + i14, schemaPath: "#/properties/monitor/properties/health/items/required", keyword: "required", params: { missingProperty: "url" }, message: "must have required property '" + "url" + "'" };
                            if (vErrors === null) {
                                vErrors = [err220];
                            }
                            else {
                                vErrors.push(err220);
                            }
                            errors++;
                        }
                        for (const key24 in data114) {
                            if (!(((((((key24 === "name") || (key24 === "url")) || (key24 === "expect-status")) || (key24 === "expect-text")) || (key24 === "reject-text")) || (key24 === "timeout")) || (key24 === "interval"))) {
                                const err221 = { instancePath: instancePath + "/monitor/health/" + i14, schemaPath: "#/properties/monitor/properties/health/items/additionalProperties", keyword: "additionalProperties", params: { additionalProperty: key24 }, message: "must NOT have additional properties" };
                                if (vErrors === null) {
                                    vErrors = [err221];
                                }
                                else {
                                    vErrors.push(err221);
                                }
                                errors++;
                            }
                        }
                        if (data114.name !== undefined) {
                            let data115 = data114.name;
                            if (typeof data115 === "string") {
                                if (func2(data115) < 1) {
                                    const err222 = { instancePath: instancePath + "/monitor/health/" + i14 + "/name", schemaPath: "#/properties/monitor/properties/health/items/properties/name/minLength", keyword: "minLength", params: { limit: 1 }, message: "must NOT have fewer than 1 characters" };
                                    if (vErrors === null) {
                                        vErrors = [err222];
                                    }
                                    else {
                                        vErrors.push(err222);
                                    }
                                    errors++;
                                }
                            }
                            else {
                                const err223 = { instancePath: instancePath + "/monitor/health/" + i14 + "/name", schemaPath: "#/properties/monitor/properties/health/items/properties/name/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                                if (vErrors === null) {
                                    vErrors = [err223];
                                }
                                else {
                                    vErrors.push(err223);
                                }
                                errors++;
                            }
                        }
                        if (data114.url !== undefined) {
                            let data116 = data114.url;
                            if (typeof data116 === "string") {
                                if (!pattern5.test(data116)) {
                                    const err224 = { instancePath: instancePath + "/monitor/health/" + i14 + "/url", schemaPath: "#/properties/monitor/properties/health/items/properties/url/pattern", keyword: "pattern", params: { pattern: "^https?:\\/\\/[^\\s]+$" }, message: "must match pattern \"" + "^https?:\\/\\/[^\\s]+$" + "\"" };
                                    if (vErrors === null) {
                                        vErrors = [err224];
                                    }
                                    else {
                                        vErrors.push(err224);
                                    }
                                    errors++;
                                }
                            }
                            else {
                                const err225 = { instancePath: instancePath + "/monitor/health/" + i14 + "/url", schemaPath: "#/properties/monitor/properties/health/items/properties/url/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                                if (vErrors === null) {
                                    vErrors = [err225];
                                }
                                else {
                                    vErrors.push(err225);
                                }
                                errors++;
                            }
                        }
                        let data117 = data114["expect-status"];
                        if (!(((typeof data117 == "number") && (!(data117 % 1) && !isNaN(data117))) && (isFinite(data117)))) {
                            const err226 = { instancePath: instancePath + "/monitor/health/" + i14 + "/expect-status", schemaPath: "#/properties/monitor/properties/health/items/properties/expect-status/type", keyword: "type", params: { type: "integer" }, message: "must be integer" };
                            if (vErrors === null) {
                                vErrors = [err226];
                            }
                            else {
                                vErrors.push(err226);
                            }
                            errors++;
                        }
                        if ((typeof data117 == "number") && (isFinite(data117))) {
                            if (data117 > 599 || isNaN(data117)) {
                                const err227 = { instancePath: instancePath + "/monitor/health/" + i14 + "/expect-status", schemaPath: "#/properties/monitor/properties/health/items/properties/expect-status/maximum", keyword: "maximum", params: { comparison: "<=", limit: 599 }, message: "must be <= 599" };
                                if (vErrors === null) {
                                    vErrors = [err227];
                                }
                                else {
                                    vErrors.push(err227);
                                }
                                errors++;
                            }
                            if (data117 < 100 || isNaN(data117)) {
                                const err228 = { instancePath: instancePath + "/monitor/health/" + i14 + "/expect-status", schemaPath: "#/properties/monitor/properties/health/items/properties/expect-status/minimum", keyword: "minimum", params: { comparison: ">=", limit: 100 }, message: "must be >= 100" };
                                if (vErrors === null) {
                                    vErrors = [err228];
                                }
                                else {
                                    vErrors.push(err228);
                                }
                                errors++;
                            }
                        }
                        if (data114["expect-text"] !== undefined) {
                            if (typeof data114["expect-text"] !== "string") {
                                const err229 = { instancePath: instancePath + "/monitor/health/" + i14 + "/expect-text", schemaPath: "#/properties/monitor/properties/health/items/properties/expect-text/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                                if (vErrors === null) {
                                    vErrors = [err229];
                                }
                                else {
                                    vErrors.push(err229);
                                }
                                errors++;
                            }
                        }
                        if (data114["reject-text"] !== undefined) {
                            if (typeof data114["reject-text"] !== "string") {
                                const err230 = { instancePath: instancePath + "/monitor/health/" + i14 + "/reject-text", schemaPath: "#/properties/monitor/properties/health/items/properties/reject-text/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                                if (vErrors === null) {
                                    vErrors = [err230];
                                }
                                else {
                                    vErrors.push(err230);
                                }
                                errors++;
                            }
                        }
                        let data120 = data114.timeout;
                        if (typeof data120 === "string") {
                            if (!pattern9.test(data120)) {
                                const err231 = { instancePath: instancePath + "/monitor/health/" + i14 + "/timeout", schemaPath: "#/properties/monitor/properties/health/items/properties/timeout/pattern", keyword: "pattern", params: { pattern: "^\\d+(ms|s|m|h)$" }, message: "must match pattern \"" + "^\\d+(ms|s|m|h)$" + "\"" };
                                if (vErrors === null) {
                                    vErrors = [err231];
                                }
                                else {
                                    vErrors.push(err231);
                                }
                                errors++;
                            }
                        }
                        else {
                            const err232 = { instancePath: instancePath + "/monitor/health/" + i14 + "/timeout", schemaPath: "#/properties/monitor/properties/health/items/properties/timeout/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                            if (vErrors === null) {
                                vErrors = [err232];
                            }
                            else {
                                vErrors.push(err232);
                            }
                            errors++;
                        }
                        let data121 = data114.interval;
                        if (typeof data121 === "string") {
                            if (!pattern9.test(data121)) {
                                const err233 = { instancePath: instancePath + "/monitor/health/" + i14 + "/interval", schemaPath: "#/properties/monitor/properties/health/items/properties/interval/pattern", keyword: "pattern", params: { pattern: "^\\d+(ms|s|m|h)$" }, message: "must match pattern \"" + "^\\d+(ms|s|m|h)$" + "\"" };
                                if (vErrors === null) {
                                    vErrors = [err233];
                                }
                                else {
                                    vErrors.push(err233);
                                }
                                errors++;
                            }
                        }
                        else {
                            const err234 = { instancePath: instancePath + "/monitor/health/" + i14 + "/interval", schemaPath: "#/properties/monitor/properties/health/items/properties/interval/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                            if (vErrors === null) {
                                vErrors = [err234];
                            }
                            else {
                                vErrors.push(err234);
                            }
                            errors++;
                        }
                    }
                    else {
                        const err235 = { instancePath: instancePath + "/monitor/health/" + i14, schemaPath: "#/properties/monitor/properties/health/items/type", keyword: "type", params: { type: "object" }, message: "must be object" };
                        if (vErrors === null) {
                            vErrors = [err235];
                        }
                        else {
                            vErrors.push(err235);
                        }
                        errors++;
                    }
                }
            }
            else {
                const err236 = { instancePath: instancePath + "/monitor/health", schemaPath: "#/properties/monitor/properties/health/type", keyword: "type", params: { type: "array" }, message: "must be array" };
                if (vErrors === null) {
                    vErrors = [err236];
                }
                else {
                    vErrors.push(err236);
                }
                errors++;
            }
            let data122 = data110.metrics;
            if (Array.isArray(data122)) {
                const len15 = data122.length;
                for (let i15 = 0; i15 < len15; i15++) {
                    let data123 = data122[i15];
                    if (data123 && typeof data123 == "object" && !Array.isArray(data123)) {
                        if (data123.name === undefined) {
                            const err237 = { instancePath: instancePath + "/monitor/metrics/" + i15, schemaPath: "#/properties/monitor/properties/metrics/items/required", keyword: "required", params: { missingProperty: "name" }, message: "must have required property '" + "name" + "'" };
                            if (vErrors === null) {
                                vErrors = [err237];
                            }
                            else {
                                vErrors.push(err237);
                            }
                            errors++;
                        }
                        if (data123.sql === undefined) {
                            const err238 = { instancePath: instancePath + "/monitor/metrics/" + i15, schemaPath: "#/properties/monitor/properties/metrics/items/required", keyword: "required", params: { missingProperty: "sql" }, message: "must have required property '" + "sql" + "'" };
                            if (vErrors === null) {
                                vErrors = [err238];
                            }
                            else {
                                vErrors.push(err238);
                            }
                            errors++;
                        }
                        for (const key25 in data123) {
                            if (!((((key25 === "name") || (key25 === "sql")) || (key25 === "max")) || (key25 === "min"))) {
                                const err239 = { instancePath: instancePath + "/monitor/metrics/" + i15, schemaPath: "#/properties/monitor/properties/metrics/items/additionalProperties", keyword: "additionalProperties", params: { additionalProperty: key25 }, message: "must NOT have additional properties" };
                                if (vErrors === null) {
                                    vErrors = [err239];
                                }
                                else {
                                    vErrors.push(err239);
                                }
                                errors++;
                            }
                        }
                        if (data123.name !== undefined) {
                            let data124 = data123.name;
                            if (typeof data124 === "string") {
                                if (func2(data124) < 1) {
                                    const err240 = { instancePath: instancePath + "/monitor/metrics/" + i15 + "/name", schemaPath: "#/properties/monitor/properties/metrics/items/properties/name/minLength", keyword: "minLength", params: { limit: 1 }, message: "must NOT have fewer than 1 characters" };
                                    if (vErrors === null) {
                                        vErrors = [err240];
                                    }
                                    else {
                                        vErrors.push(err240);
                                    }
                                    errors++;
                                }
                            }
                            else {
                                const err241 = { instancePath: instancePath + "/monitor/metrics/" + i15 + "/name", schemaPath: "#/properties/monitor/properties/metrics/items/properties/name/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                                if (vErrors === null) {
                                    vErrors = [err241];
                                }
                                else {
                                    vErrors.push(err241);
                                }
                                errors++;
                            }
                        }
                        if (data123.sql !== undefined) {
                            let data125 = data123.sql;
                            if (typeof data125 === "string") {
                                if (func2(data125) < 1) {
                                    const err242 = { instancePath: instancePath + "/monitor/metrics/" + i15 + "/sql", schemaPath: "#/properties/monitor/properties/metrics/items/properties/sql/minLength", keyword: "minLength", params: { limit: 1 }, message: "must NOT have fewer than 1 characters" };
                                    if (vErrors === null) {
                                        vErrors = [err242];
                                    }
                                    else {
                                        vErrors.push(err242);
                                    }
                                    errors++;
                                }
                            }
                            else {
                                const err243 = { instancePath: instancePath + "/monitor/metrics/" + i15 + "/sql", schemaPath: "#/properties/monitor/properties/metrics/items/properties/sql/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                                if (vErrors === null) {
                                    vErrors = [err243];
                                }
                                else {
                                    vErrors.push(err243);
                                }
                                errors++;
                            }
                        }
                        if (data123.max !== undefined) {
                            let data126 = data123.max;
                            if (!((typeof data126 == "number") && (isFinite(data126)))) {
                                const err244 = { instancePath: instancePath + "/monitor/metrics/" + i15 + "/max", schemaPath: "#/properties/monitor/properties/metrics/items/properties/max/type", keyword: "type", params: { type: "number" }, message: "must be number" };
                                if (vErrors === null) {
                                    vErrors = [err244];
                                }
                                else {
                                    vErrors.push(err244);
                                }
                                errors++;
                            }
                        }
                        if (data123.min !== undefined) {
                            let data127 = data123.min;
                            if (!((typeof data127 == "number") && (isFinite(data127)))) {
                                const err245 = { instancePath: instancePath + "/monitor/metrics/" + i15 + "/min", schemaPath: "#/properties/monitor/properties/metrics/items/properties/min/type", keyword: "type", params: { type: "number" }, message: "must be number" };
                                if (vErrors === null) {
                                    vErrors = [err245];
                                }
                                else {
                                    vErrors.push(err245);
                                }
                                errors++;
                            }
                        }
                    }
                    else {
                        const err246 = { instancePath: instancePath + "/monitor/metrics/" + i15, schemaPath: "#/properties/monitor/properties/metrics/items/type", keyword: "type", params: { type: "object" }, message: "must be object" };
                        if (vErrors === null) {
                            vErrors = [err246];
                        }
                        else {
                            vErrors.push(err246);
                        }
                        errors++;
                    }
                }
            }
            else {
                const err247 = { instancePath: instancePath + "/monitor/metrics", schemaPath: "#/properties/monitor/properties/metrics/type", keyword: "type", params: { type: "array" }, message: "must be array" };
                if (vErrors === null) {
                    vErrors = [err247];
                }
                else {
                    vErrors.push(err247);
                }
                errors++;
            }
            let data128 = data110["max-error-rate"];
            if ((typeof data128 == "number") && (isFinite(data128))) {
                if (data128 > 1 || isNaN(data128)) {
                    const err248 = { instancePath: instancePath + "/monitor/max-error-rate", schemaPath: "#/properties/monitor/properties/max-error-rate/maximum", keyword: "maximum", params: { comparison: "<=", limit: 1 }, message: "must be <= 1" };
                    if (vErrors === null) {
                        vErrors = [err248];
                    }
                    else {
                        vErrors.push(err248);
                    }
                    errors++;
                }
                if (data128 < 0 || isNaN(data128)) {
                    const err249 = { instancePath: instancePath + "/monitor/max-error-rate", schemaPath: "#/properties/monitor/properties/max-error-rate/minimum", keyword: "minimum", params: { comparison: ">=", limit: 0 }, message: "must be >= 0" };
                    if (vErrors === null) {
                        vErrors = [err249];
                    }
                    else {
                        vErrors.push(err249);
                    }
                    errors++;
                }
            }
            else {
                const err250 = { instancePath: instancePath + "/monitor/max-error-rate", schemaPath: "#/properties/monitor/properties/max-error-rate/type", keyword: "type", params: { type: "number" }, message: "must be number" };
                if (vErrors === null) {
                    vErrors = [err250];
                }
                else {
                    vErrors.push(err250);
                }
                errors++;
            }
        }
        else {
            const err251 = { instancePath: instancePath + "/monitor", schemaPath: "#/properties/monitor/type", keyword: "type", params: { type: "object" }, message: "must be object" };
            if (vErrors === null) {
                vErrors = [err251];
            }
            else {
                vErrors.push(err251);
            }
            errors++;
        }
    }
    if (data.notify !== undefined) {
        let data129 = data.notify;
        if (data129 && typeof data129 == "object" && !Array.isArray(data129)) {
            if (data129["status-comment"] === undefined) {
                data129["status-comment"] = true;
            }
            if (data129.messages === undefined) {
                data129.messages = { "initiated": "Rollback initiated", "complete": "Rollback complete, system stable", "failed": "Rollback FAILED: manual action needed" };
            }
            for (const key26 in data129) {
                if (!((((key26 === "status-comment") || (key26 === "incident-issue")) || (key26 === "webhook-env")) || (key26 === "messages"))) {
                    const err252 = { instancePath: instancePath + "/notify", schemaPath: "#/properties/notify/additionalProperties", keyword: "additionalProperties", params: { additionalProperty: key26 }, message: "must NOT have additional properties" };
                    if (vErrors === null) {
                        vErrors = [err252];
                    }
                    else {
                        vErrors.push(err252);
                    }
                    errors++;
                }
            }
            if (typeof data129["status-comment"] !== "boolean") {
                const err253 = { instancePath: instancePath + "/notify/status-comment", schemaPath: "#/properties/notify/properties/status-comment/type", keyword: "type", params: { type: "boolean" }, message: "must be boolean" };
                if (vErrors === null) {
                    vErrors = [err253];
                }
                else {
                    vErrors.push(err253);
                }
                errors++;
            }
            if (data129["incident-issue"] !== undefined) {
                let data131 = data129["incident-issue"];
                if (data131 && typeof data131 == "object" && !Array.isArray(data131)) {
                    if (data131.labels === undefined) {
                        data131.labels = ["incident", "rollback"];
                    }
                    for (const key27 in data131) {
                        if (!(key27 === "labels")) {
                            const err254 = { instancePath: instancePath + "/notify/incident-issue", schemaPath: "#/properties/notify/properties/incident-issue/additionalProperties", keyword: "additionalProperties", params: { additionalProperty: key27 }, message: "must NOT have additional properties" };
                            if (vErrors === null) {
                                vErrors = [err254];
                            }
                            else {
                                vErrors.push(err254);
                            }
                            errors++;
                        }
                    }
                    let data132 = data131.labels;
                    if (Array.isArray(data132)) {
                        const len16 = data132.length;
                        for (let i16 = 0; i16 < len16; i16++) {
                            if (typeof data132[i16] !== "string") {
                                const err255 = { instancePath: instancePath + "/notify/incident-issue/labels/" + i16, schemaPath: "#/properties/notify/properties/incident-issue/properties/labels/items/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                                if (vErrors === null) {
                                    vErrors = [err255];
                                }
                                else {
                                    vErrors.push(err255);
                                }
                                errors++;
                            }
                        }
                    }
                    else {
                        const err256 = { instancePath: instancePath + "/notify/incident-issue/labels", schemaPath: "#/properties/notify/properties/incident-issue/properties/labels/type", keyword: "type", params: { type: "array" }, message: "must be array" };
                        if (vErrors === null) {
                            vErrors = [err256];
                        }
                        else {
                            vErrors.push(err256);
                        }
                        errors++;
                    }
                }
                else {
                    const err257 = { instancePath: instancePath + "/notify/incident-issue", schemaPath: "#/properties/notify/properties/incident-issue/type", keyword: "type", params: { type: "object" }, message: "must be object" };
                    if (vErrors === null) {
                        vErrors = [err257];
                    }
                    else {
                        vErrors.push(err257);
                    }
                    errors++;
                }
            }
            if (data129["webhook-env"] !== undefined) {
                let data134 = data129["webhook-env"];
                if (typeof data134 === "string") {
                    if (!pattern4.test(data134)) {
                        const err258 = { instancePath: instancePath + "/notify/webhook-env", schemaPath: "#/properties/notify/properties/webhook-env/pattern", keyword: "pattern", params: { pattern: "^[A-Z_][A-Z0-9_]*$" }, message: "must match pattern \"" + "^[A-Z_][A-Z0-9_]*$" + "\"" };
                        if (vErrors === null) {
                            vErrors = [err258];
                        }
                        else {
                            vErrors.push(err258);
                        }
                        errors++;
                    }
                }
                else {
                    const err259 = { instancePath: instancePath + "/notify/webhook-env", schemaPath: "#/properties/notify/properties/webhook-env/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                    if (vErrors === null) {
                        vErrors = [err259];
                    }
                    else {
                        vErrors.push(err259);
                    }
                    errors++;
                }
            }
            let data135 = data129.messages;
            if (data135 && typeof data135 == "object" && !Array.isArray(data135)) {
                if (data135.initiated === undefined) {
                    data135.initiated = "Rollback initiated";
                }
                if (data135.complete === undefined) {
                    data135.complete = "Rollback complete, system stable";
                }
                if (data135.failed === undefined) {
                    data135.failed = "Rollback FAILED: manual action needed";
                }
                for (const key28 in data135) {
                    if (!(((key28 === "initiated") || (key28 === "complete")) || (key28 === "failed"))) {
                        const err260 = { instancePath: instancePath + "/notify/messages", schemaPath: "#/properties/notify/properties/messages/additionalProperties", keyword: "additionalProperties", params: { additionalProperty: key28 }, message: "must NOT have additional properties" };
                        if (vErrors === null) {
                            vErrors = [err260];
                        }
                        else {
                            vErrors.push(err260);
                        }
                        errors++;
                    }
                }
                if (typeof data135.initiated !== "string") {
                    const err261 = { instancePath: instancePath + "/notify/messages/initiated", schemaPath: "#/properties/notify/properties/messages/properties/initiated/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                    if (vErrors === null) {
                        vErrors = [err261];
                    }
                    else {
                        vErrors.push(err261);
                    }
                    errors++;
                }
                if (typeof data135.complete !== "string") {
                    const err262 = { instancePath: instancePath + "/notify/messages/complete", schemaPath: "#/properties/notify/properties/messages/properties/complete/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                    if (vErrors === null) {
                        vErrors = [err262];
                    }
                    else {
                        vErrors.push(err262);
                    }
                    errors++;
                }
                if (typeof data135.failed !== "string") {
                    const err263 = { instancePath: instancePath + "/notify/messages/failed", schemaPath: "#/properties/notify/properties/messages/properties/failed/type", keyword: "type", params: { type: "string" }, message: "must be string" };
                    if (vErrors === null) {
                        vErrors = [err263];
                    }
                    else {
                        vErrors.push(err263);
                    }
                    errors++;
                }
            }
            else {
                const err264 = { instancePath: instancePath + "/notify/messages", schemaPath: "#/properties/notify/properties/messages/type", keyword: "type", params: { type: "object" }, message: "must be object" };
                if (vErrors === null) {
                    vErrors = [err264];
                }
                else {
                    vErrors.push(err264);
                }
                errors++;
            }
        }
        else {
            const err265 = { instancePath: instancePath + "/notify", schemaPath: "#/properties/notify/type", keyword: "type", params: { type: "object" }, message: "must be object" };
            if (vErrors === null) {
                vErrors = [err265];
            }
            else {
                vErrors.push(err265);
            }
            errors++;
        }
    }
}
else {
    const err266 = { instancePath, schemaPath: "#/type", keyword: "type", params: { type: "object" }, message: "must be object" };
    if (vErrors === null) {
        vErrors = [err266];
    }
    else {
        vErrors.push(err266);
    }
    errors++;
} validate20.errors = vErrors; return errors === 0; }
validate20.evaluated = { "props": true, "dynamicProps": false, "dynamicItems": false };
const runbookJsonSchema = schema31;


/***/ }),

/***/ 2970:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {

/* harmony export */ __nccwpck_require__.d(__webpack_exports__, {
/* harmony export */   RW: () => (/* binding */ hideCredentials),
/* harmony export */   eV: () => (/* binding */ credentialKind),
/* harmony export */   gW: () => (/* binding */ CONTROL_CHARACTER),
/* harmony export */   qN: () => (/* binding */ looksLikeCredentialName)
/* harmony export */ });
/**
 * What a credential looks like, as a value (a token, a URL with a password) or as a name (a
 * variable such as AWS_SECRET_ACCESS_KEY). Used to refuse pasted secrets and to never echo one,
 * even where it was typed as a key or a flag name.
 */
const CREDENTIAL_VALUES = [
    [/\b(ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}/, 'a GitHub token'],
    [/\bgithub_pat_[A-Za-z0-9_]{20,}/, 'a GitHub token'],
    [/\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]+:(?!\*\*\*@)[^@\s]+@/i, 'a URL with a password'],
    [/\bxox[abposr]-[A-Za-z0-9-]{10,}/, 'a Slack token'],
    [/-----BEGIN [A-Z ]*PRIVATE KEY-----/, 'a private key'],
    [/\b(AKIA|ASIA)[0-9A-Z]{16}\b/, 'an AWS access key'],
    [/\bsk_(live|test)_[A-Za-z0-9]{16,}/, 'a Stripe secret key'],
    [/\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/, 'a JSON Web Token']
];
/** What kind of credential `text` contains, if it looks like one. */
function credentialKind(text) {
    return CREDENTIAL_VALUES.find(([pattern]) => pattern.test(text))?.[1];
}
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/)([^:/@\s]+):([^@\s]+)@/gi;
/**
 * `text` with every part that looks like a credential replaced by `***` (a URL keeps its user and
 * host, only its password is hidden).
 */
function hideCredentials(text) {
    let out = text.replace(URL_PASSWORD, '$1$2:***@');
    for (const [pattern] of CREDENTIAL_VALUES) {
        out = out.replace(new RegExp(pattern.source, `${pattern.flags}g`), '***');
    }
    return out;
}
/** Words that make a variable or flag name a credential's name (split on _ and -). */
const SECRET_WORDS = /(^|[_-])(TOKEN|SECRETS?|PASSWORD|PASSWD|PASSPHRASE|CREDENTIALS?|AUTH|PRIVATE[_-]KEY|API[_-]?KEY|ACCESS[_-]KEY|SIGNING[_-]KEY|SECRET[_-]KEY|CLIENT[_-]SECRET)([_-]|$)/i;
/** True for names such as GITHUB_TOKEN, AWS_SECRET_ACCESS_KEY, STRIPE_API_KEY, db-password. */
function looksLikeCredentialName(name) {
    return SECRET_WORDS.test(name);
}
/** Control characters (line breaks included) split log lines and defeat log masking. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;


/***/ }),

/***/ 6518:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {

/* harmony export */ __nccwpck_require__.d(__webpack_exports__, {
/* harmony export */   E9: () => (/* binding */ parseDuration),
/* harmony export */   a3: () => (/* binding */ formatDuration),
/* harmony export */   d5: () => (/* binding */ elapsedMs)
/* harmony export */ });
/** Runbook durations ("500ms", "30s", "5m", "1h") to milliseconds. The schema checks the form. */
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
function parseDuration(text) {
    const match = /^(\d+)(ms|s|m|h)$/.exec(text);
    if (!match)
        throw new Error(`not a duration: "${text}" (use e.g. 500ms, 30s, 5m, 1h)`);
    return Number(match[1]) * UNIT_MS[match[2]];
}
function formatDuration(ms) {
    if (ms < 1000)
        return `${Math.round(ms)} ms`;
    if (ms < 60_000)
        return `${(ms / 1000).toFixed(1)} s`;
    return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}
/**
 * Time spent waiting so far. With a real sleep the wall clock already contains the sleeps; with
 * the instant sleep tests inject, only the sum of requested sleeps moves. The larger of the two is
 * right in both cases (adding them would count every real sleep twice).
 */
function elapsedMs(startedAt, sleptMs, now) {
    return Math.max(now - startedAt, sleptMs);
}


/***/ }),

/***/ 17:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {

/* harmony export */ __nccwpck_require__.d(__webpack_exports__, {
/* harmony export */   Z: () => (/* binding */ RollbackError)
/* harmony export */ });
/** An error whose message is already fit for the operator: no stack trace needed. */
class RollbackError extends Error {
    hint;
    constructor(message, hint) {
        super(message);
        this.hint = hint;
        this.name = 'RollbackError';
    }
}


/***/ }),

/***/ 9922:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {

/* harmony export */ __nccwpck_require__.d(__webpack_exports__, {
/* harmony export */   P: () => (/* binding */ untilFinished)
/* harmony export */ });
/**
 * Runs an entry point's main and fails the process if it ends before main settled. The bundles
 * are CommonJS, where a promise that never settles lets the process end quietly with exit code 0.
 */
async function untilFinished(main, onUnfinished) {
    let finished = false;
    process.on('exit', () => {
        if (finished)
            return;
        process.exitCode = 1;
        onUnfinished();
    });
    try {
        return await main();
    }
    finally {
        finished = true;
    }
}


/***/ }),

/***/ 767:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {

/* harmony export */ __nccwpck_require__.d(__webpack_exports__, {
/* harmony export */   Ds: () => (/* binding */ urlPassword),
/* harmony export */   pO: () => (/* binding */ Redactor),
/* harmony export */   yP: () => (/* binding */ maskUrl)
/* harmony export */ });
/* unused harmony export secretForms */
/* harmony import */ var _credentials_js__WEBPACK_IMPORTED_MODULE_0__ = __nccwpck_require__(2970);
/**
 * The one redactor every output channel goes through (log lines, errors, report, summary,
 * comments, webhook, issue): known secret values are replaced in every form they travel in
 * (plain, URL-encoded, JSON-escaped, base64 at any alignment, so inside a Basic credential too),
 * URLs lose their passwords, and anything that looks like a credential is hidden even when no
 * one registered it.
 */

function maskUrl(url) {
    try {
        const parsed = new URL(url);
        if (parsed.password)
            parsed.password = '***';
        return parsed.toString();
    }
    catch {
        // Not a URL we can parse: hide anything that looks like user:password@.
        return url.replace(/\/\/([^:/@\s]+):[^@\s]+@/g, '//$1:***@');
    }
}
/** The password part of a connection URL, so it can be registered as a secret. */
function urlPassword(url) {
    try {
        const password = new URL(url).password;
        return password ? decodeURIComponent(password) : undefined;
    }
    catch {
        return undefined;
    }
}
/** Very short values would mask ordinary words; nobody uses a 3-character token. */
const MIN_SECRET_LENGTH = 4;
/** Base64 fragments shorter than this would match ordinary text. */
const MIN_FRAGMENT_LENGTH = 8;
/**
 * The base64 text that `secret` always encodes to, wherever it sits in a longer value: for each
 * of the three byte alignments, the characters that depend on the secret's bytes alone.
 */
function base64Fragments(secret) {
    const bytes = Buffer.from(secret, 'utf8');
    const fragments = [];
    for (const offset of [0, 1, 2]) {
        const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString('base64');
        const start = Math.ceil((8 * offset) / 6);
        const end = Math.floor((8 * (offset + bytes.length)) / 6);
        const fragment = encoded.slice(start, end);
        if (fragment.length >= MIN_FRAGMENT_LENGTH) {
            fragments.push(fragment, fragment.replace(/\+/g, '-').replace(/\//g, '_'));
        }
    }
    return fragments;
}
/** Every form of `secret` that may appear in output. */
function secretForms(secret) {
    const forms = new Set([secret, encodeURIComponent(secret), JSON.stringify(secret).slice(1, -1)]);
    for (const fragment of base64Fragments(secret))
        forms.add(fragment);
    return [...forms];
}
class Redactor {
    secrets = new Set();
    /** Registers a secret; returns the forms now redacted (to mask them elsewhere too). */
    add(secret) {
        if (!secret || secret.length < MIN_SECRET_LENGTH)
            return [];
        const forms = secretForms(secret);
        for (const form of forms)
            this.secrets.add(form);
        return forms;
    }
    redact(text) {
        let out = (0,_credentials_js__WEBPACK_IMPORTED_MODULE_0__/* .hideCredentials */ .RW)(text);
        // Longest first: a secret that contains another is replaced whole.
        for (const secret of [...this.secrets].sort((a, b) => b.length - a.length)) {
            out = out.split(secret).join('***');
        }
        return out;
    }
}


/***/ }),

/***/ 2613:
/***/ ((module) => {

module.exports = require("assert");

/***/ }),

/***/ 181:
/***/ ((module) => {

module.exports = require("buffer");

/***/ }),

/***/ 6982:
/***/ ((module) => {

module.exports = require("crypto");

/***/ }),

/***/ 2250:
/***/ ((module) => {

module.exports = require("dns");

/***/ }),

/***/ 4434:
/***/ ((module) => {

module.exports = require("events");

/***/ }),

/***/ 9896:
/***/ ((module) => {

module.exports = require("fs");

/***/ }),

/***/ 8611:
/***/ ((module) => {

module.exports = require("http");

/***/ }),

/***/ 5692:
/***/ ((module) => {

module.exports = require("https");

/***/ }),

/***/ 9278:
/***/ ((module) => {

module.exports = require("net");

/***/ }),

/***/ 4589:
/***/ ((module) => {

module.exports = require("node:assert");

/***/ }),

/***/ 6698:
/***/ ((module) => {

module.exports = require("node:async_hooks");

/***/ }),

/***/ 4573:
/***/ ((module) => {

module.exports = require("node:buffer");

/***/ }),

/***/ 7540:
/***/ ((module) => {

module.exports = require("node:console");

/***/ }),

/***/ 7598:
/***/ ((module) => {

module.exports = require("node:crypto");

/***/ }),

/***/ 3053:
/***/ ((module) => {

module.exports = require("node:diagnostics_channel");

/***/ }),

/***/ 610:
/***/ ((module) => {

module.exports = require("node:dns");

/***/ }),

/***/ 8474:
/***/ ((module) => {

module.exports = require("node:events");

/***/ }),

/***/ 3024:
/***/ ((module) => {

module.exports = require("node:fs");

/***/ }),

/***/ 1455:
/***/ ((module) => {

module.exports = require("node:fs/promises");

/***/ }),

/***/ 7067:
/***/ ((module) => {

module.exports = require("node:http");

/***/ }),

/***/ 2467:
/***/ ((module) => {

module.exports = require("node:http2");

/***/ }),

/***/ 7030:
/***/ ((module) => {

module.exports = require("node:net");

/***/ }),

/***/ 6760:
/***/ ((module) => {

module.exports = require("node:path");

/***/ }),

/***/ 643:
/***/ ((module) => {

module.exports = require("node:perf_hooks");

/***/ }),

/***/ 1792:
/***/ ((module) => {

module.exports = require("node:querystring");

/***/ }),

/***/ 7075:
/***/ ((module) => {

module.exports = require("node:stream");

/***/ }),

/***/ 1692:
/***/ ((module) => {

module.exports = require("node:tls");

/***/ }),

/***/ 3136:
/***/ ((module) => {

module.exports = require("node:url");

/***/ }),

/***/ 7975:
/***/ ((module) => {

module.exports = require("node:util");

/***/ }),

/***/ 3429:
/***/ ((module) => {

module.exports = require("node:util/types");

/***/ }),

/***/ 5919:
/***/ ((module) => {

module.exports = require("node:worker_threads");

/***/ }),

/***/ 8522:
/***/ ((module) => {

module.exports = require("node:zlib");

/***/ }),

/***/ 857:
/***/ ((module) => {

module.exports = require("os");

/***/ }),

/***/ 6928:
/***/ ((module) => {

module.exports = require("path");

/***/ }),

/***/ 932:
/***/ ((module) => {

module.exports = require("process");

/***/ }),

/***/ 2203:
/***/ ((module) => {

module.exports = require("stream");

/***/ }),

/***/ 3193:
/***/ ((module) => {

module.exports = require("string_decoder");

/***/ }),

/***/ 4756:
/***/ ((module) => {

module.exports = require("tls");

/***/ }),

/***/ 9023:
/***/ ((module) => {

module.exports = require("util");

/***/ }),

/***/ 8253:
/***/ ((module) => {

module.exports = require("util/types");

/***/ }),

/***/ 7349:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var identity = __nccwpck_require__(1127);
var Scalar = __nccwpck_require__(3301);
var YAMLMap = __nccwpck_require__(4454);
var YAMLSeq = __nccwpck_require__(2223);
var resolveBlockMap = __nccwpck_require__(7103);
var resolveBlockSeq = __nccwpck_require__(334);
var resolveFlowCollection = __nccwpck_require__(3142);

function resolveCollection(CN, ctx, token, onError, tagName, tag) {
    const coll = token.type === 'block-map'
        ? resolveBlockMap.resolveBlockMap(CN, ctx, token, onError, tag)
        : token.type === 'block-seq'
            ? resolveBlockSeq.resolveBlockSeq(CN, ctx, token, onError, tag)
            : resolveFlowCollection.resolveFlowCollection(CN, ctx, token, onError, tag);
    const Coll = coll.constructor;
    // If we got a tagName matching the class, or the tag name is '!',
    // then use the tagName from the node class used to create it.
    if (tagName === '!' || tagName === Coll.tagName) {
        coll.tag = Coll.tagName;
        return coll;
    }
    if (tagName)
        coll.tag = tagName;
    return coll;
}
function composeCollection(CN, ctx, token, props, onError) {
    const tagToken = props.tag;
    const tagName = !tagToken
        ? null
        : ctx.directives.tagName(tagToken.source, msg => onError(tagToken, 'TAG_RESOLVE_FAILED', msg));
    if (token.type === 'block-seq') {
        const { anchor, newlineAfterProp: nl } = props;
        const lastProp = anchor && tagToken
            ? anchor.offset > tagToken.offset
                ? anchor
                : tagToken
            : (anchor ?? tagToken);
        if (lastProp && (!nl || nl.offset < lastProp.offset)) {
            const message = 'Missing newline after block sequence props';
            onError(lastProp, 'MISSING_CHAR', message);
        }
    }
    const expType = token.type === 'block-map'
        ? 'map'
        : token.type === 'block-seq'
            ? 'seq'
            : token.start.source === '{'
                ? 'map'
                : 'seq';
    // shortcut: check if it's a generic YAMLMap or YAMLSeq
    // before jumping into the custom tag logic.
    if (!tagToken ||
        !tagName ||
        tagName === '!' ||
        (tagName === YAMLMap.YAMLMap.tagName && expType === 'map') ||
        (tagName === YAMLSeq.YAMLSeq.tagName && expType === 'seq')) {
        return resolveCollection(CN, ctx, token, onError, tagName);
    }
    let tag = ctx.schema.tags.find(t => t.tag === tagName && t.collection === expType);
    if (!tag) {
        const kt = ctx.schema.knownTags[tagName];
        if (kt?.collection === expType) {
            ctx.schema.tags.push(Object.assign({}, kt, { default: false }));
            tag = kt;
        }
        else {
            if (kt) {
                onError(tagToken, 'BAD_COLLECTION_TYPE', `${kt.tag} used for ${expType} collection, but expects ${kt.collection ?? 'scalar'}`, true);
            }
            else {
                onError(tagToken, 'TAG_RESOLVE_FAILED', `Unresolved tag: ${tagName}`, true);
            }
            return resolveCollection(CN, ctx, token, onError, tagName);
        }
    }
    const coll = resolveCollection(CN, ctx, token, onError, tagName, tag);
    const res = tag.resolve?.(coll, msg => onError(tagToken, 'TAG_RESOLVE_FAILED', msg), ctx.options) ?? coll;
    const node = identity.isNode(res)
        ? res
        : new Scalar.Scalar(res);
    node.range = coll.range;
    node.tag = tagName;
    if (tag?.format)
        node.format = tag.format;
    return node;
}

exports.composeCollection = composeCollection;


/***/ }),

/***/ 3683:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var Document = __nccwpck_require__(3021);
var composeNode = __nccwpck_require__(5937);
var resolveEnd = __nccwpck_require__(7788);
var resolveProps = __nccwpck_require__(4631);

function composeDoc(options, directives, { offset, start, value, end }, onError) {
    const opts = Object.assign({ _directives: directives }, options);
    const doc = new Document.Document(undefined, opts);
    const ctx = {
        atKey: false,
        atRoot: true,
        directives: doc.directives,
        options: doc.options,
        schema: doc.schema
    };
    const props = resolveProps.resolveProps(start, {
        indicator: 'doc-start',
        next: value ?? end?.[0],
        offset,
        onError,
        parentIndent: 0,
        startOnNewline: true
    });
    if (props.found) {
        doc.directives.docStart = true;
        if (value &&
            (value.type === 'block-map' || value.type === 'block-seq') &&
            !props.hasNewline)
            onError(props.end, 'MISSING_CHAR', 'Block collection cannot start on same line with directives-end marker');
    }
    // @ts-expect-error If Contents is set, let's trust the user
    doc.contents = value
        ? composeNode.composeNode(ctx, value, props, onError)
        : composeNode.composeEmptyNode(ctx, props.end, start, null, props, onError);
    const contentEnd = doc.contents.range[2];
    const re = resolveEnd.resolveEnd(end, contentEnd, false, onError);
    if (re.comment)
        doc.comment = re.comment;
    doc.range = [offset, contentEnd, re.offset];
    return doc;
}

exports.composeDoc = composeDoc;


/***/ }),

/***/ 5937:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var Alias = __nccwpck_require__(4065);
var identity = __nccwpck_require__(1127);
var composeCollection = __nccwpck_require__(7349);
var composeScalar = __nccwpck_require__(5413);
var resolveEnd = __nccwpck_require__(7788);
var utilEmptyScalarPosition = __nccwpck_require__(2599);

const CN = { composeNode, composeEmptyNode };
function composeNode(ctx, token, props, onError) {
    const atKey = ctx.atKey;
    const { spaceBefore, comment, anchor, tag } = props;
    let node;
    let isSrcToken = true;
    switch (token.type) {
        case 'alias':
            node = composeAlias(ctx, token, onError);
            if (anchor || tag)
                onError(token, 'ALIAS_PROPS', 'An alias node must not specify any properties');
            break;
        case 'scalar':
        case 'single-quoted-scalar':
        case 'double-quoted-scalar':
        case 'block-scalar':
            node = composeScalar.composeScalar(ctx, token, tag, onError);
            if (anchor)
                node.anchor = anchor.source.substring(1);
            break;
        case 'block-map':
        case 'block-seq':
        case 'flow-collection':
            try {
                node = composeCollection.composeCollection(CN, ctx, token, props, onError);
                if (anchor)
                    node.anchor = anchor.source.substring(1);
            }
            catch (error) {
                // Almost certainly here due to a stack overflow
                const message = error instanceof Error ? error.message : String(error);
                onError(token, 'RESOURCE_EXHAUSTION', message);
            }
            break;
        default: {
            const message = token.type === 'error'
                ? token.message
                : `Unsupported token (type: ${token.type})`;
            onError(token, 'UNEXPECTED_TOKEN', message);
            isSrcToken = false;
        }
    }
    node ?? (node = composeEmptyNode(ctx, token.offset, undefined, null, props, onError));
    if (anchor && node.anchor === '')
        onError(anchor, 'BAD_ALIAS', 'Anchor cannot be an empty string');
    if (atKey &&
        ctx.options.stringKeys &&
        (!identity.isScalar(node) ||
            typeof node.value !== 'string' ||
            (node.tag && node.tag !== 'tag:yaml.org,2002:str'))) {
        const msg = 'With stringKeys, all keys must be strings';
        onError(tag ?? token, 'NON_STRING_KEY', msg);
    }
    if (spaceBefore)
        node.spaceBefore = true;
    if (comment) {
        if (token.type === 'scalar' && token.source === '')
            node.comment = comment;
        else
            node.commentBefore = comment;
    }
    // @ts-expect-error Type checking misses meaning of isSrcToken
    if (ctx.options.keepSourceTokens && isSrcToken)
        node.srcToken = token;
    return node;
}
function composeEmptyNode(ctx, offset, before, pos, { spaceBefore, comment, anchor, tag, end }, onError) {
    const token = {
        type: 'scalar',
        offset: utilEmptyScalarPosition.emptyScalarPosition(offset, before, pos),
        indent: -1,
        source: ''
    };
    const node = composeScalar.composeScalar(ctx, token, tag, onError);
    if (anchor) {
        node.anchor = anchor.source.substring(1);
        if (node.anchor === '')
            onError(anchor, 'BAD_ALIAS', 'Anchor cannot be an empty string');
    }
    if (spaceBefore)
        node.spaceBefore = true;
    if (comment) {
        node.comment = comment;
        node.range[2] = end;
    }
    return node;
}
function composeAlias({ options }, { offset, source, end }, onError) {
    const alias = new Alias.Alias(source.substring(1));
    if (alias.source === '')
        onError(offset, 'BAD_ALIAS', 'Alias cannot be an empty string');
    if (alias.source.endsWith(':'))
        onError(offset + source.length - 1, 'BAD_ALIAS', 'Alias ending in : is ambiguous', true);
    const valueEnd = offset + source.length;
    const re = resolveEnd.resolveEnd(end, valueEnd, options.strict, onError);
    alias.range = [offset, valueEnd, re.offset];
    if (re.comment)
        alias.comment = re.comment;
    return alias;
}

exports.composeEmptyNode = composeEmptyNode;
exports.composeNode = composeNode;


/***/ }),

/***/ 5413:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var identity = __nccwpck_require__(1127);
var Scalar = __nccwpck_require__(3301);
var resolveBlockScalar = __nccwpck_require__(8913);
var resolveFlowScalar = __nccwpck_require__(6842);

function composeScalar(ctx, token, tagToken, onError) {
    const { value, type, comment, range } = token.type === 'block-scalar'
        ? resolveBlockScalar.resolveBlockScalar(ctx, token, onError)
        : resolveFlowScalar.resolveFlowScalar(token, ctx.options.strict, onError);
    const tagName = tagToken
        ? ctx.directives.tagName(tagToken.source, msg => onError(tagToken, 'TAG_RESOLVE_FAILED', msg))
        : null;
    let tag;
    if (ctx.options.stringKeys && ctx.atKey) {
        tag = ctx.schema[identity.SCALAR];
    }
    else if (tagName)
        tag = findScalarTagByName(ctx.schema, value, tagName, tagToken, onError);
    else if (token.type === 'scalar')
        tag = findScalarTagByTest(ctx, value, token, onError);
    else
        tag = ctx.schema[identity.SCALAR];
    let scalar;
    try {
        const res = tag.resolve(value, msg => onError(tagToken ?? token, 'TAG_RESOLVE_FAILED', msg), ctx.options);
        scalar = identity.isScalar(res) ? res : new Scalar.Scalar(res);
    }
    catch (error) {
        const msg = error instanceof Error ? error.message : String(error);
        onError(tagToken ?? token, 'TAG_RESOLVE_FAILED', msg);
        scalar = new Scalar.Scalar(value);
    }
    scalar.range = range;
    scalar.source = value;
    if (type)
        scalar.type = type;
    if (tagName)
        scalar.tag = tagName;
    if (tag.format)
        scalar.format = tag.format;
    if (comment)
        scalar.comment = comment;
    return scalar;
}
function findScalarTagByName(schema, value, tagName, tagToken, onError) {
    if (tagName === '!')
        return schema[identity.SCALAR]; // non-specific tag
    const matchWithTest = [];
    for (const tag of schema.tags) {
        if (!tag.collection && tag.tag === tagName) {
            if (tag.default && tag.test)
                matchWithTest.push(tag);
            else
                return tag;
        }
    }
    for (const tag of matchWithTest)
        if (tag.test?.test(value))
            return tag;
    const kt = schema.knownTags[tagName];
    if (kt && !kt.collection) {
        // Ensure that the known tag is available for stringifying,
        // but does not get used by default.
        schema.tags.push(Object.assign({}, kt, { default: false, test: undefined }));
        return kt;
    }
    onError(tagToken, 'TAG_RESOLVE_FAILED', `Unresolved tag: ${tagName}`, tagName !== 'tag:yaml.org,2002:str');
    return schema[identity.SCALAR];
}
function findScalarTagByTest({ atKey, directives, schema }, value, token, onError) {
    const tag = schema.tags.find(tag => (tag.default === true || (atKey && tag.default === 'key')) &&
        tag.test?.test(value)) || schema[identity.SCALAR];
    if (schema.compat) {
        const compat = schema.compat.find(tag => tag.default && tag.test?.test(value)) ??
            schema[identity.SCALAR];
        if (tag.tag !== compat.tag) {
            const ts = directives.tagString(tag.tag);
            const cs = directives.tagString(compat.tag);
            const msg = `Value may be parsed as either ${ts} or ${cs}`;
            onError(token, 'TAG_RESOLVE_FAILED', msg, true);
        }
    }
    return tag;
}

exports.composeScalar = composeScalar;


/***/ }),

/***/ 9984:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var node_process = __nccwpck_require__(932);
var directives = __nccwpck_require__(1342);
var Document = __nccwpck_require__(3021);
var errors = __nccwpck_require__(1464);
var identity = __nccwpck_require__(1127);
var composeDoc = __nccwpck_require__(3683);
var resolveEnd = __nccwpck_require__(7788);

function getErrorPos(src) {
    if (typeof src === 'number')
        return [src, src + 1];
    if (Array.isArray(src))
        return src.length === 2 ? src : [src[0], src[1]];
    const { offset, source } = src;
    return [offset, offset + (typeof source === 'string' ? source.length : 1)];
}
function parsePrelude(prelude) {
    let comment = '';
    let atComment = false;
    let afterEmptyLine = false;
    for (let i = 0; i < prelude.length; ++i) {
        const source = prelude[i];
        switch (source[0]) {
            case '#':
                comment +=
                    (comment === '' ? '' : afterEmptyLine ? '\n\n' : '\n') +
                        (source.substring(1) || ' ');
                atComment = true;
                afterEmptyLine = false;
                break;
            case '%':
                if (prelude[i + 1]?.[0] !== '#')
                    i += 1;
                atComment = false;
                break;
            default:
                // This may be wrong after doc-end, but in that case it doesn't matter
                if (!atComment)
                    afterEmptyLine = true;
                atComment = false;
        }
    }
    return { comment, afterEmptyLine };
}
/**
 * Compose a stream of CST nodes into a stream of YAML Documents.
 *
 * ```ts
 * import { Composer, Parser } from 'yaml'
 *
 * const src: string = ...
 * const tokens = new Parser().parse(src)
 * const docs = new Composer().compose(tokens)
 * ```
 */
class Composer {
    constructor(options = {}) {
        this.doc = null;
        this.atDirectives = false;
        this.prelude = [];
        this.errors = [];
        this.warnings = [];
        this.onError = (source, code, message, warning) => {
            const pos = getErrorPos(source);
            if (warning)
                this.warnings.push(new errors.YAMLWarning(pos, code, message));
            else
                this.errors.push(new errors.YAMLParseError(pos, code, message));
        };
        // eslint-disable-next-line @typescript-eslint/prefer-nullish-coalescing
        this.directives = new directives.Directives({ version: options.version || '1.2' });
        this.options = options;
    }
    decorate(doc, afterDoc) {
        const { comment, afterEmptyLine } = parsePrelude(this.prelude);
        //console.log({ dc: doc.comment, prelude, comment })
        if (comment) {
            const dc = doc.contents;
            if (afterDoc) {
                doc.comment = doc.comment ? `${doc.comment}\n${comment}` : comment;
            }
            else if (afterEmptyLine || doc.directives.docStart || !dc) {
                doc.commentBefore = comment;
            }
            else if (identity.isCollection(dc) && !dc.flow && dc.items.length > 0) {
                let it = dc.items[0];
                if (identity.isPair(it))
                    it = it.key;
                const cb = it.commentBefore;
                it.commentBefore = cb ? `${comment}\n${cb}` : comment;
            }
            else {
                const cb = dc.commentBefore;
                dc.commentBefore = cb ? `${comment}\n${cb}` : comment;
            }
        }
        if (afterDoc) {
            for (let i = 0; i < this.errors.length; ++i)
                doc.errors.push(this.errors[i]);
            for (let i = 0; i < this.warnings.length; ++i)
                doc.warnings.push(this.warnings[i]);
        }
        else {
            doc.errors = this.errors;
            doc.warnings = this.warnings;
        }
        this.prelude = [];
        this.errors = [];
        this.warnings = [];
    }
    /**
     * Current stream status information.
     *
     * Mostly useful at the end of input for an empty stream.
     */
    streamInfo() {
        return {
            comment: parsePrelude(this.prelude).comment,
            directives: this.directives,
            errors: this.errors,
            warnings: this.warnings
        };
    }
    /**
     * Compose tokens into documents.
     *
     * @param forceDoc - If the stream contains no document, still emit a final document including any comments and directives that would be applied to a subsequent document.
     * @param endOffset - Should be set if `forceDoc` is also set, to set the document range end and to indicate errors correctly.
     */
    *compose(tokens, forceDoc = false, endOffset = -1) {
        for (const token of tokens)
            yield* this.next(token);
        yield* this.end(forceDoc, endOffset);
    }
    /** Advance the composer by one CST token. */
    *next(token) {
        if (node_process.env.LOG_STREAM)
            console.dir(token, { depth: null });
        switch (token.type) {
            case 'directive':
                this.directives.add(token.source, (offset, message, warning) => {
                    const pos = getErrorPos(token);
                    pos[0] += offset;
                    this.onError(pos, 'BAD_DIRECTIVE', message, warning);
                });
                this.prelude.push(token.source);
                this.atDirectives = true;
                break;
            case 'document': {
                const doc = composeDoc.composeDoc(this.options, this.directives, token, this.onError);
                if (this.atDirectives && !doc.directives.docStart)
                    this.onError(token, 'MISSING_CHAR', 'Missing directives-end/doc-start indicator line');
                this.decorate(doc, false);
                if (this.doc)
                    yield this.doc;
                this.doc = doc;
                this.atDirectives = false;
                break;
            }
            case 'byte-order-mark':
            case 'space':
                break;
            case 'comment':
            case 'newline':
                this.prelude.push(token.source);
                break;
            case 'error': {
                const msg = token.source
                    ? `${token.message}: ${JSON.stringify(token.source)}`
                    : token.message;
                const error = new errors.YAMLParseError(getErrorPos(token), 'UNEXPECTED_TOKEN', msg);
                if (this.atDirectives || !this.doc)
                    this.errors.push(error);
                else
                    this.doc.errors.push(error);
                break;
            }
            case 'doc-end': {
                if (!this.doc) {
                    const msg = 'Unexpected doc-end without preceding document';
                    this.errors.push(new errors.YAMLParseError(getErrorPos(token), 'UNEXPECTED_TOKEN', msg));
                    break;
                }
                this.doc.directives.docEnd = true;
                const end = resolveEnd.resolveEnd(token.end, token.offset + token.source.length, this.doc.options.strict, this.onError);
                this.decorate(this.doc, true);
                if (end.comment) {
                    const dc = this.doc.comment;
                    this.doc.comment = dc ? `${dc}\n${end.comment}` : end.comment;
                }
                this.doc.range[2] = end.offset;
                break;
            }
            default:
                this.errors.push(new errors.YAMLParseError(getErrorPos(token), 'UNEXPECTED_TOKEN', `Unsupported token ${token.type}`));
        }
    }
    /**
     * Call at end of input to yield any remaining document.
     *
     * @param forceDoc - If the stream contains no document, still emit a final document including any comments and directives that would be applied to a subsequent document.
     * @param endOffset - Should be set if `forceDoc` is also set, to set the document range end and to indicate errors correctly.
     */
    *end(forceDoc = false, endOffset = -1) {
        if (this.doc) {
            this.decorate(this.doc, true);
            yield this.doc;
            this.doc = null;
        }
        else if (forceDoc) {
            const opts = Object.assign({ _directives: this.directives }, this.options);
            const doc = new Document.Document(undefined, opts);
            if (this.atDirectives)
                this.onError(endOffset, 'MISSING_CHAR', 'Missing directives-end indicator line');
            doc.range = [0, endOffset, endOffset];
            this.decorate(doc, false);
            yield doc;
        }
    }
}

exports.Composer = Composer;


/***/ }),

/***/ 7103:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var Pair = __nccwpck_require__(7165);
var YAMLMap = __nccwpck_require__(4454);
var resolveProps = __nccwpck_require__(4631);
var utilContainsNewline = __nccwpck_require__(9499);
var utilFlowIndentCheck = __nccwpck_require__(4051);
var utilMapIncludes = __nccwpck_require__(1187);

const startColMsg = 'All mapping items must start at the same column';
function resolveBlockMap({ composeNode, composeEmptyNode }, ctx, bm, onError, tag) {
    const NodeClass = tag?.nodeClass ?? YAMLMap.YAMLMap;
    const map = new NodeClass(ctx.schema);
    if (ctx.atRoot)
        ctx.atRoot = false;
    let offset = bm.offset;
    let commentEnd = null;
    for (const collItem of bm.items) {
        const { start, key, sep, value } = collItem;
        // key properties
        const keyProps = resolveProps.resolveProps(start, {
            indicator: 'explicit-key-ind',
            next: key ?? sep?.[0],
            offset,
            onError,
            parentIndent: bm.indent,
            startOnNewline: true
        });
        const implicitKey = !keyProps.found;
        if (implicitKey) {
            if (key) {
                if (key.type === 'block-seq')
                    onError(offset, 'BLOCK_AS_IMPLICIT_KEY', 'A block sequence may not be used as an implicit map key');
                else if ('indent' in key && key.indent !== bm.indent)
                    onError(offset, 'BAD_INDENT', startColMsg);
            }
            if (!keyProps.anchor && !keyProps.tag && !sep) {
                commentEnd = keyProps.end;
                if (keyProps.comment) {
                    if (map.comment)
                        map.comment += '\n' + keyProps.comment;
                    else
                        map.comment = keyProps.comment;
                }
                continue;
            }
            if (keyProps.newlineAfterProp || utilContainsNewline.containsNewline(key)) {
                onError(key ?? start[start.length - 1], 'MULTILINE_IMPLICIT_KEY', 'Implicit keys need to be on a single line');
            }
        }
        else if (keyProps.found?.indent !== bm.indent) {
            onError(offset, 'BAD_INDENT', startColMsg);
        }
        // key value
        ctx.atKey = true;
        const keyStart = keyProps.end;
        const keyNode = key
            ? composeNode(ctx, key, keyProps, onError)
            : composeEmptyNode(ctx, keyStart, start, null, keyProps, onError);
        if (ctx.schema.compat)
            utilFlowIndentCheck.flowIndentCheck(bm.indent, key, onError);
        ctx.atKey = false;
        if (utilMapIncludes.mapIncludes(ctx, map.items, keyNode))
            onError(keyStart, 'DUPLICATE_KEY', 'Map keys must be unique');
        // value properties
        const valueProps = resolveProps.resolveProps(sep ?? [], {
            indicator: 'map-value-ind',
            next: value,
            offset: keyNode.range[2],
            onError,
            parentIndent: bm.indent,
            startOnNewline: !key || key.type === 'block-scalar'
        });
        offset = valueProps.end;
        if (valueProps.found) {
            if (implicitKey) {
                if (value?.type === 'block-map' && !valueProps.hasNewline)
                    onError(offset, 'BLOCK_AS_IMPLICIT_KEY', 'Nested mappings are not allowed in compact mappings');
                if (ctx.options.strict &&
                    keyProps.start < valueProps.found.offset - 1024)
                    onError(keyNode.range, 'KEY_OVER_1024_CHARS', 'The : indicator must be at most 1024 chars after the start of an implicit block mapping key');
            }
            // value value
            const valueNode = value
                ? composeNode(ctx, value, valueProps, onError)
                : composeEmptyNode(ctx, offset, sep, null, valueProps, onError);
            if (ctx.schema.compat)
                utilFlowIndentCheck.flowIndentCheck(bm.indent, value, onError);
            offset = valueNode.range[2];
            const pair = new Pair.Pair(keyNode, valueNode);
            if (ctx.options.keepSourceTokens)
                pair.srcToken = collItem;
            map.items.push(pair);
        }
        else {
            // key with no value
            if (implicitKey)
                onError(keyNode.range, 'MISSING_CHAR', 'Implicit map keys need to be followed by map values');
            if (valueProps.comment) {
                if (keyNode.comment)
                    keyNode.comment += '\n' + valueProps.comment;
                else
                    keyNode.comment = valueProps.comment;
            }
            const pair = new Pair.Pair(keyNode);
            if (ctx.options.keepSourceTokens)
                pair.srcToken = collItem;
            map.items.push(pair);
        }
    }
    if (commentEnd && commentEnd < offset)
        onError(commentEnd, 'IMPOSSIBLE', 'Map comment with trailing content');
    map.range = [bm.offset, offset, commentEnd ?? offset];
    return map;
}

exports.resolveBlockMap = resolveBlockMap;


/***/ }),

/***/ 8913:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var Scalar = __nccwpck_require__(3301);

function resolveBlockScalar(ctx, scalar, onError) {
    const start = scalar.offset;
    const header = parseBlockScalarHeader(scalar, ctx.options.strict, onError);
    if (!header)
        return { value: '', type: null, comment: '', range: [start, start, start] };
    const type = header.mode === '>' ? Scalar.Scalar.BLOCK_FOLDED : Scalar.Scalar.BLOCK_LITERAL;
    const lines = scalar.source ? splitLines(scalar.source) : [];
    // determine the end of content & start of chomping
    let chompStart = lines.length;
    for (let i = lines.length - 1; i >= 0; --i) {
        const content = lines[i][1];
        if (content === '' || content === '\r')
            chompStart = i;
        else
            break;
    }
    // shortcut for empty contents
    if (chompStart === 0) {
        const value = header.chomp === '+' && lines.length > 0
            ? '\n'.repeat(Math.max(1, lines.length - 1))
            : '';
        let end = start + header.length;
        if (scalar.source)
            end += scalar.source.length;
        return { value, type, comment: header.comment, range: [start, end, end] };
    }
    // find the indentation level to trim from start
    let trimIndent = scalar.indent + header.indent;
    let offset = scalar.offset + header.length;
    let contentStart = 0;
    for (let i = 0; i < chompStart; ++i) {
        const [indent, content] = lines[i];
        if (content === '' || content === '\r') {
            if (header.indent === 0 && indent.length > trimIndent)
                trimIndent = indent.length;
        }
        else {
            if (indent.length < trimIndent) {
                const message = 'Block scalars with more-indented leading empty lines must use an explicit indentation indicator';
                onError(offset + indent.length, 'MISSING_CHAR', message);
            }
            if (header.indent === 0)
                trimIndent = indent.length;
            contentStart = i;
            if (trimIndent === 0 && !ctx.atRoot) {
                const message = 'Block scalar values in collections must be indented';
                onError(offset, 'BAD_INDENT', message);
            }
            break;
        }
        offset += indent.length + content.length + 1;
    }
    // include trailing more-indented empty lines in content
    for (let i = lines.length - 1; i >= chompStart; --i) {
        if (lines[i][0].length > trimIndent)
            chompStart = i + 1;
    }
    let value = '';
    let sep = '';
    let prevMoreIndented = false;
    // leading whitespace is kept intact
    for (let i = 0; i < contentStart; ++i)
        value += lines[i][0].slice(trimIndent) + '\n';
    for (let i = contentStart; i < chompStart; ++i) {
        let [indent, content] = lines[i];
        offset += indent.length + content.length + 1;
        const crlf = content[content.length - 1] === '\r';
        if (crlf)
            content = content.slice(0, -1);
        /* istanbul ignore if already caught in lexer */
        if (content && indent.length < trimIndent) {
            const src = header.indent
                ? 'explicit indentation indicator'
                : 'first line';
            const message = `Block scalar lines must not be less indented than their ${src}`;
            onError(offset - content.length - (crlf ? 2 : 1), 'BAD_INDENT', message);
            indent = '';
        }
        if (type === Scalar.Scalar.BLOCK_LITERAL) {
            value += sep + indent.slice(trimIndent) + content;
            sep = '\n';
        }
        else if (indent.length > trimIndent || content[0] === '\t') {
            // more-indented content within a folded block
            if (sep === ' ')
                sep = '\n';
            else if (!prevMoreIndented && sep === '\n')
                sep = '\n\n';
            value += sep + indent.slice(trimIndent) + content;
            sep = '\n';
            prevMoreIndented = true;
        }
        else if (content === '') {
            // empty line
            if (sep === '\n')
                value += '\n';
            else
                sep = '\n';
        }
        else {
            value += sep + content;
            sep = ' ';
            prevMoreIndented = false;
        }
    }
    switch (header.chomp) {
        case '-':
            break;
        case '+':
            for (let i = chompStart; i < lines.length; ++i)
                value += '\n' + lines[i][0].slice(trimIndent);
            if (value[value.length - 1] !== '\n')
                value += '\n';
            break;
        default:
            value += '\n';
    }
    const end = start + header.length + scalar.source.length;
    return { value, type, comment: header.comment, range: [start, end, end] };
}
function parseBlockScalarHeader({ offset, props }, strict, onError) {
    /* istanbul ignore if should not happen */
    if (props[0].type !== 'block-scalar-header') {
        onError(props[0], 'IMPOSSIBLE', 'Block scalar header not found');
        return null;
    }
    const { source } = props[0];
    const mode = source[0];
    let indent = 0;
    let chomp = '';
    let error = -1;
    for (let i = 1; i < source.length; ++i) {
        const ch = source[i];
        if (!chomp && (ch === '-' || ch === '+'))
            chomp = ch;
        else {
            const n = Number(ch);
            if (!indent && n)
                indent = n;
            else if (error === -1)
                error = offset + i;
        }
    }
    if (error !== -1)
        onError(error, 'UNEXPECTED_TOKEN', `Block scalar header includes extra characters: ${source}`);
    let hasSpace = false;
    let comment = '';
    let length = source.length;
    for (let i = 1; i < props.length; ++i) {
        const token = props[i];
        switch (token.type) {
            case 'space':
                hasSpace = true;
            // fallthrough
            case 'newline':
                length += token.source.length;
                break;
            case 'comment':
                if (strict && !hasSpace) {
                    const message = 'Comments must be separated from other tokens by white space characters';
                    onError(token, 'MISSING_CHAR', message);
                }
                length += token.source.length;
                comment = token.source.substring(1);
                break;
            case 'error':
                onError(token, 'UNEXPECTED_TOKEN', token.message);
                length += token.source.length;
                break;
            /* istanbul ignore next should not happen */
            default: {
                const message = `Unexpected token in block scalar header: ${token.type}`;
                onError(token, 'UNEXPECTED_TOKEN', message);
                const ts = token.source;
                if (ts && typeof ts === 'string')
                    length += ts.length;
            }
        }
    }
    return { mode, indent, chomp, comment, length };
}
/** @returns Array of lines split up as `[indent, content]` */
function splitLines(source) {
    const split = source.split(/\n( *)/);
    const first = split[0];
    const m = first.match(/^( *)/);
    const line0 = m?.[1]
        ? [m[1], first.slice(m[1].length)]
        : ['', first];
    const lines = [line0];
    for (let i = 1; i < split.length; i += 2)
        lines.push([split[i], split[i + 1]]);
    return lines;
}

exports.resolveBlockScalar = resolveBlockScalar;


/***/ }),

/***/ 334:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var YAMLSeq = __nccwpck_require__(2223);
var resolveProps = __nccwpck_require__(4631);
var utilFlowIndentCheck = __nccwpck_require__(4051);

function resolveBlockSeq({ composeNode, composeEmptyNode }, ctx, bs, onError, tag) {
    const NodeClass = tag?.nodeClass ?? YAMLSeq.YAMLSeq;
    const seq = new NodeClass(ctx.schema);
    if (ctx.atRoot)
        ctx.atRoot = false;
    if (ctx.atKey)
        ctx.atKey = false;
    let offset = bs.offset;
    let commentEnd = null;
    for (const { start, value } of bs.items) {
        const props = resolveProps.resolveProps(start, {
            indicator: 'seq-item-ind',
            next: value,
            offset,
            onError,
            parentIndent: bs.indent,
            startOnNewline: true
        });
        if (!props.found) {
            if (props.anchor || props.tag || value) {
                if (value?.type === 'block-seq')
                    onError(props.end, 'BAD_INDENT', 'All sequence items must start at the same column');
                else
                    onError(offset, 'MISSING_CHAR', 'Sequence item without - indicator');
            }
            else {
                commentEnd = props.end;
                if (props.comment)
                    seq.comment = props.comment;
                continue;
            }
        }
        const node = value
            ? composeNode(ctx, value, props, onError)
            : composeEmptyNode(ctx, props.end, start, null, props, onError);
        if (ctx.schema.compat)
            utilFlowIndentCheck.flowIndentCheck(bs.indent, value, onError);
        offset = node.range[2];
        seq.items.push(node);
    }
    seq.range = [bs.offset, offset, commentEnd ?? offset];
    return seq;
}

exports.resolveBlockSeq = resolveBlockSeq;


/***/ }),

/***/ 7788:
/***/ ((__unused_webpack_module, exports) => {



function resolveEnd(end, offset, reqSpace, onError) {
    let comment = '';
    if (end) {
        let hasSpace = false;
        let sep = '';
        for (const token of end) {
            const { source, type } = token;
            switch (type) {
                case 'space':
                    hasSpace = true;
                    break;
                case 'comment': {
                    if (reqSpace && !hasSpace)
                        onError(token, 'MISSING_CHAR', 'Comments must be separated from other tokens by white space characters');
                    const cb = source.substring(1) || ' ';
                    if (!comment)
                        comment = cb;
                    else
                        comment += sep + cb;
                    sep = '';
                    break;
                }
                case 'newline':
                    if (comment)
                        sep += source;
                    hasSpace = true;
                    break;
                default:
                    onError(token, 'UNEXPECTED_TOKEN', `Unexpected ${type} at node end`);
            }
            offset += source.length;
        }
    }
    return { comment, offset };
}

exports.resolveEnd = resolveEnd;


/***/ }),

/***/ 3142:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var identity = __nccwpck_require__(1127);
var Pair = __nccwpck_require__(7165);
var YAMLMap = __nccwpck_require__(4454);
var YAMLSeq = __nccwpck_require__(2223);
var resolveEnd = __nccwpck_require__(7788);
var resolveProps = __nccwpck_require__(4631);
var utilContainsNewline = __nccwpck_require__(9499);
var utilMapIncludes = __nccwpck_require__(1187);

const blockMsg = 'Block collections are not allowed within flow collections';
const isBlock = (token) => token && (token.type === 'block-map' || token.type === 'block-seq');
function resolveFlowCollection({ composeNode, composeEmptyNode }, ctx, fc, onError, tag) {
    const isMap = fc.start.source === '{';
    const fcName = isMap ? 'flow map' : 'flow sequence';
    const NodeClass = (tag?.nodeClass ?? (isMap ? YAMLMap.YAMLMap : YAMLSeq.YAMLSeq));
    const coll = new NodeClass(ctx.schema);
    coll.flow = true;
    const atRoot = ctx.atRoot;
    if (atRoot)
        ctx.atRoot = false;
    if (ctx.atKey)
        ctx.atKey = false;
    let offset = fc.offset + fc.start.source.length;
    for (let i = 0; i < fc.items.length; ++i) {
        const collItem = fc.items[i];
        const { start, key, sep, value } = collItem;
        const props = resolveProps.resolveProps(start, {
            flow: fcName,
            indicator: 'explicit-key-ind',
            next: key ?? sep?.[0],
            offset,
            onError,
            parentIndent: fc.indent,
            startOnNewline: false
        });
        if (!props.found) {
            if (!props.anchor && !props.tag && !sep && !value) {
                if (i === 0 && props.comma)
                    onError(props.comma, 'UNEXPECTED_TOKEN', `Unexpected , in ${fcName}`);
                else if (i < fc.items.length - 1)
                    onError(props.start, 'UNEXPECTED_TOKEN', `Unexpected empty item in ${fcName}`);
                if (props.comment) {
                    if (coll.comment)
                        coll.comment += '\n' + props.comment;
                    else
                        coll.comment = props.comment;
                }
                offset = props.end;
                continue;
            }
            if (!isMap && ctx.options.strict && utilContainsNewline.containsNewline(key))
                onError(key, // checked by containsNewline()
                'MULTILINE_IMPLICIT_KEY', 'Implicit keys of flow sequence pairs need to be on a single line');
        }
        if (i === 0) {
            if (props.comma)
                onError(props.comma, 'UNEXPECTED_TOKEN', `Unexpected , in ${fcName}`);
        }
        else {
            if (!props.comma)
                onError(props.start, 'MISSING_CHAR', `Missing , between ${fcName} items`);
            if (props.comment) {
                let prevItemComment = '';
                loop: for (const st of start) {
                    switch (st.type) {
                        case 'comma':
                        case 'space':
                            break;
                        case 'comment':
                            prevItemComment = st.source.substring(1);
                            break loop;
                        default:
                            break loop;
                    }
                }
                if (prevItemComment) {
                    let prev = coll.items[coll.items.length - 1];
                    if (identity.isPair(prev))
                        prev = prev.value ?? prev.key;
                    if (prev.comment)
                        prev.comment += '\n' + prevItemComment;
                    else
                        prev.comment = prevItemComment;
                    props.comment = props.comment.substring(prevItemComment.length + 1);
                }
            }
        }
        if (!isMap && !sep && !props.found) {
            // item is a value in a seq
            // → key & sep are empty, start does not include ? or :
            const valueNode = value
                ? composeNode(ctx, value, props, onError)
                : composeEmptyNode(ctx, props.end, sep, null, props, onError);
            coll.items.push(valueNode);
            offset = valueNode.range[2];
            if (isBlock(value))
                onError(valueNode.range, 'BLOCK_IN_FLOW', blockMsg);
        }
        else {
            // item is a key+value pair
            // key value
            ctx.atKey = true;
            const keyStart = props.end;
            const keyNode = key
                ? composeNode(ctx, key, props, onError)
                : composeEmptyNode(ctx, keyStart, start, null, props, onError);
            if (isBlock(key))
                onError(keyNode.range, 'BLOCK_IN_FLOW', blockMsg);
            ctx.atKey = false;
            // value properties
            const valueProps = resolveProps.resolveProps(sep ?? [], {
                flow: fcName,
                indicator: 'map-value-ind',
                next: value,
                offset: keyNode.range[2],
                onError,
                parentIndent: fc.indent,
                startOnNewline: false
            });
            if (valueProps.found) {
                if (!isMap && !props.found && ctx.options.strict) {
                    if (sep)
                        for (const st of sep) {
                            if (st === valueProps.found)
                                break;
                            if (st.type === 'newline') {
                                onError(st, 'MULTILINE_IMPLICIT_KEY', 'Implicit keys of flow sequence pairs need to be on a single line');
                                break;
                            }
                        }
                    if (props.start < valueProps.found.offset - 1024)
                        onError(valueProps.found, 'KEY_OVER_1024_CHARS', 'The : indicator must be at most 1024 chars after the start of an implicit flow sequence key');
                }
            }
            else if (value) {
                if ('source' in value && value.source?.[0] === ':')
                    onError(value, 'MISSING_CHAR', `Missing space after : in ${fcName}`);
                else
                    onError(valueProps.start, 'MISSING_CHAR', `Missing , or : between ${fcName} items`);
            }
            // value value
            const valueNode = value
                ? composeNode(ctx, value, valueProps, onError)
                : valueProps.found
                    ? composeEmptyNode(ctx, valueProps.end, sep, null, valueProps, onError)
                    : null;
            if (valueNode) {
                if (isBlock(value))
                    onError(valueNode.range, 'BLOCK_IN_FLOW', blockMsg);
            }
            else if (valueProps.comment) {
                if (keyNode.comment)
                    keyNode.comment += '\n' + valueProps.comment;
                else
                    keyNode.comment = valueProps.comment;
            }
            const pair = new Pair.Pair(keyNode, valueNode);
            if (ctx.options.keepSourceTokens)
                pair.srcToken = collItem;
            if (isMap) {
                const map = coll;
                if (utilMapIncludes.mapIncludes(ctx, map.items, keyNode))
                    onError(keyStart, 'DUPLICATE_KEY', 'Map keys must be unique');
                map.items.push(pair);
            }
            else {
                const map = new YAMLMap.YAMLMap(ctx.schema);
                map.flow = true;
                map.items.push(pair);
                const endRange = (valueNode ?? keyNode).range;
                map.range = [keyNode.range[0], endRange[1], endRange[2]];
                coll.items.push(map);
            }
            offset = valueNode ? valueNode.range[2] : valueProps.end;
        }
    }
    const expectedEnd = isMap ? '}' : ']';
    const [ce, ...ee] = fc.end;
    let cePos = offset;
    if (ce?.source === expectedEnd)
        cePos = ce.offset + ce.source.length;
    else {
        const name = fcName[0].toUpperCase() + fcName.substring(1);
        const msg = atRoot
            ? `${name} must end with a ${expectedEnd}`
            : `${name} in block collection must be sufficiently indented and end with a ${expectedEnd}`;
        onError(offset, atRoot ? 'MISSING_CHAR' : 'BAD_INDENT', msg);
        if (ce && ce.source.length !== 1)
            ee.unshift(ce);
    }
    if (ee.length > 0) {
        const end = resolveEnd.resolveEnd(ee, cePos, ctx.options.strict, onError);
        if (end.comment) {
            if (coll.comment)
                coll.comment += '\n' + end.comment;
            else
                coll.comment = end.comment;
        }
        coll.range = [fc.offset, cePos, end.offset];
    }
    else {
        coll.range = [fc.offset, cePos, cePos];
    }
    return coll;
}

exports.resolveFlowCollection = resolveFlowCollection;


/***/ }),

/***/ 6842:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var Scalar = __nccwpck_require__(3301);
var resolveEnd = __nccwpck_require__(7788);

function resolveFlowScalar(scalar, strict, onError) {
    const { offset, type, source, end } = scalar;
    let _type;
    let value;
    const _onError = (rel, code, msg) => onError(offset + rel, code, msg);
    switch (type) {
        case 'scalar':
            _type = Scalar.Scalar.PLAIN;
            value = plainValue(source, _onError);
            break;
        case 'single-quoted-scalar':
            _type = Scalar.Scalar.QUOTE_SINGLE;
            value = singleQuotedValue(source, _onError);
            break;
        case 'double-quoted-scalar':
            _type = Scalar.Scalar.QUOTE_DOUBLE;
            value = doubleQuotedValue(source, _onError);
            break;
        /* istanbul ignore next should not happen */
        default:
            onError(scalar, 'UNEXPECTED_TOKEN', `Expected a flow scalar value, but found: ${type}`);
            return {
                value: '',
                type: null,
                comment: '',
                range: [offset, offset + source.length, offset + source.length]
            };
    }
    const valueEnd = offset + source.length;
    const re = resolveEnd.resolveEnd(end, valueEnd, strict, onError);
    return {
        value,
        type: _type,
        comment: re.comment,
        range: [offset, valueEnd, re.offset]
    };
}
function plainValue(source, onError) {
    let badChar = '';
    switch (source[0]) {
        /* istanbul ignore next should not happen */
        case '\t':
            badChar = 'a tab character';
            break;
        case ',':
            badChar = 'flow indicator character ,';
            break;
        case '%':
            badChar = 'directive indicator character %';
            break;
        case '|':
        case '>': {
            badChar = `block scalar indicator ${source[0]}`;
            break;
        }
        case '@':
        case '`': {
            badChar = `reserved character ${source[0]}`;
            break;
        }
    }
    if (badChar)
        onError(0, 'BAD_SCALAR_START', `Plain value cannot start with ${badChar}`);
    return unfoldLines(source);
}
function singleQuotedValue(source, onError) {
    if (source[source.length - 1] !== "'" || source.length === 1)
        onError(source.length, 'MISSING_CHAR', "Missing closing 'quote");
    return unfoldLines(source.slice(1, -1)).replace(/''/g, "'");
}
function unfoldLines(source) {
    const line = /(.*?)\r?\n/sy;
    let match = line.exec(source);
    if (!match)
        return source;
    /**
     * The negative lookbehinds in these RegExps are to
     * prevent causing a polynomial search time in certain cases.
     *
     * The try-catch is for Safari < 16.4 and other old browsers:
     * https://caniuse.com/js-regexp-lookbehind
     */
    let trimEnd, trimBoth;
    try {
        trimEnd = new RegExp('(?<![ \t])[ \t]+$');
        trimBoth = new RegExp('^[ \t]+|(?<![ \t])[ \t]+$', 'g');
    }
    catch {
        trimEnd = /[ \t]+$/;
        trimBoth = /^[ \t]+|[ \t]+$/g;
    }
    let res = match[1].replace(trimEnd, '');
    let sep = ' ';
    let pos = line.lastIndex;
    while ((match = line.exec(source))) {
        const lm = match[1].replace(trimBoth, '');
        if (lm === '') {
            if (sep === '\n')
                res += sep;
            else
                sep = '\n';
        }
        else {
            res += sep + lm;
            sep = ' ';
        }
        pos = line.lastIndex;
    }
    const last = /[ \t]*(.*)/sy;
    last.lastIndex = pos;
    match = last.exec(source);
    return res + sep + (match?.[1] ?? '');
}
function doubleQuotedValue(source, onError) {
    let res = '';
    for (let i = 1; i < source.length - 1; ++i) {
        const ch = source[i];
        if (ch === '\r' && source[i + 1] === '\n')
            continue;
        if (ch === '\n') {
            const { fold, offset } = foldNewline(source, i);
            res += fold;
            i = offset;
        }
        else if (ch === '\\') {
            let next = source[++i];
            const cc = escapeCodes[next];
            if (cc)
                res += cc;
            else if (next === '\n') {
                // skip escaped newlines, but still trim the following line
                next = source[i + 1];
                while (next === ' ' || next === '\t')
                    next = source[++i + 1];
            }
            else if (next === '\r' && source[i + 1] === '\n') {
                // skip escaped CRLF newlines, but still trim the following line
                next = source[++i + 1];
                while (next === ' ' || next === '\t')
                    next = source[++i + 1];
            }
            else if (next === 'x' || next === 'u' || next === 'U') {
                const length = next === 'x' ? 2 : next === 'u' ? 4 : 8;
                res += parseCharCode(source, i + 1, length, onError);
                i += length;
            }
            else {
                const raw = source.substr(i - 1, 2);
                onError(i - 1, 'BAD_DQ_ESCAPE', `Invalid escape sequence ${raw}`);
                res += raw;
            }
        }
        else if (ch === ' ' || ch === '\t') {
            // trim trailing whitespace
            const wsStart = i;
            let next = source[i + 1];
            while (next === ' ' || next === '\t')
                next = source[++i + 1];
            if (next !== '\n' && !(next === '\r' && source[i + 2] === '\n'))
                res += i > wsStart ? source.slice(wsStart, i + 1) : ch;
        }
        else {
            res += ch;
        }
    }
    if (source[source.length - 1] !== '"' || source.length === 1)
        onError(source.length, 'MISSING_CHAR', 'Missing closing "quote');
    return res;
}
/**
 * Fold a single newline into a space, multiple newlines to N - 1 newlines.
 * Presumes `source[offset] === '\n'`
 */
function foldNewline(source, offset) {
    let fold = '';
    let ch = source[offset + 1];
    while (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r') {
        if (ch === '\r' && source[offset + 2] !== '\n')
            break;
        if (ch === '\n')
            fold += '\n';
        offset += 1;
        ch = source[offset + 1];
    }
    if (!fold)
        fold = ' ';
    return { fold, offset };
}
const escapeCodes = {
    '0': '\0', // null character
    a: '\x07', // bell character
    b: '\b', // backspace
    e: '\x1b', // escape character
    f: '\f', // form feed
    n: '\n', // line feed
    r: '\r', // carriage return
    t: '\t', // horizontal tab
    v: '\v', // vertical tab
    N: '\u0085', // Unicode next line
    _: '\u00a0', // Unicode non-breaking space
    L: '\u2028', // Unicode line separator
    P: '\u2029', // Unicode paragraph separator
    ' ': ' ',
    '"': '"',
    '/': '/',
    '\\': '\\',
    '\t': '\t'
};
function parseCharCode(source, offset, length, onError) {
    const cc = source.substr(offset, length);
    const ok = cc.length === length && /^[0-9a-fA-F]+$/.test(cc);
    const code = ok ? parseInt(cc, 16) : NaN;
    try {
        return String.fromCodePoint(code);
    }
    catch {
        const raw = source.substr(offset - 2, length + 2);
        onError(offset - 2, 'BAD_DQ_ESCAPE', `Invalid escape sequence ${raw}`);
        return raw;
    }
}

exports.resolveFlowScalar = resolveFlowScalar;


/***/ }),

/***/ 4631:
/***/ ((__unused_webpack_module, exports) => {



function resolveProps(tokens, { flow, indicator, next, offset, onError, parentIndent, startOnNewline }) {
    let spaceBefore = false;
    let atNewline = startOnNewline;
    let hasSpace = startOnNewline;
    let comment = '';
    let commentSep = '';
    let hasNewline = false;
    let reqSpace = false;
    let tab = null;
    let anchor = null;
    let tag = null;
    let newlineAfterProp = null;
    let comma = null;
    let found = null;
    let start = null;
    for (const token of tokens) {
        if (reqSpace) {
            if (token.type !== 'space' &&
                token.type !== 'newline' &&
                token.type !== 'comma')
                onError(token.offset, 'MISSING_CHAR', 'Tags and anchors must be separated from the next token by white space');
            reqSpace = false;
        }
        if (tab) {
            if (atNewline && token.type !== 'comment' && token.type !== 'newline') {
                onError(tab, 'TAB_AS_INDENT', 'Tabs are not allowed as indentation');
            }
            tab = null;
        }
        switch (token.type) {
            case 'space':
                // At the doc level, tabs at line start may be parsed
                // as leading white space rather than indentation.
                // In a flow collection, only the parser handles indent.
                if (!flow &&
                    (indicator !== 'doc-start' || next?.type !== 'flow-collection') &&
                    token.source.includes('\t')) {
                    tab = token;
                }
                hasSpace = true;
                break;
            case 'comment': {
                if (!hasSpace)
                    onError(token, 'MISSING_CHAR', 'Comments must be separated from other tokens by white space characters');
                const cb = token.source.substring(1) || ' ';
                if (!comment)
                    comment = cb;
                else
                    comment += commentSep + cb;
                commentSep = '';
                atNewline = false;
                break;
            }
            case 'newline':
                if (atNewline) {
                    if (comment)
                        comment += token.source;
                    else if (!found || indicator !== 'seq-item-ind')
                        spaceBefore = true;
                }
                else
                    commentSep += token.source;
                atNewline = true;
                hasNewline = true;
                if (anchor || tag)
                    newlineAfterProp = token;
                hasSpace = true;
                break;
            case 'anchor':
                if (anchor)
                    onError(token, 'MULTIPLE_ANCHORS', 'A node can have at most one anchor');
                if (token.source.endsWith(':'))
                    onError(token.offset + token.source.length - 1, 'BAD_ALIAS', 'Anchor ending in : is ambiguous', true);
                anchor = token;
                start ?? (start = token.offset);
                atNewline = false;
                hasSpace = false;
                reqSpace = true;
                break;
            case 'tag': {
                if (tag)
                    onError(token, 'MULTIPLE_TAGS', 'A node can have at most one tag');
                tag = token;
                start ?? (start = token.offset);
                atNewline = false;
                hasSpace = false;
                reqSpace = true;
                break;
            }
            case indicator:
                // Could here handle preceding comments differently
                if (anchor || tag)
                    onError(token, 'BAD_PROP_ORDER', `Anchors and tags must be after the ${token.source} indicator`);
                if (found)
                    onError(token, 'UNEXPECTED_TOKEN', `Unexpected ${token.source} in ${flow ?? 'collection'}`);
                found = token;
                atNewline =
                    indicator === 'seq-item-ind' || indicator === 'explicit-key-ind';
                hasSpace = false;
                break;
            case 'comma':
                if (flow) {
                    if (comma)
                        onError(token, 'UNEXPECTED_TOKEN', `Unexpected , in ${flow}`);
                    comma = token;
                    atNewline = false;
                    hasSpace = false;
                    break;
                }
            // else fallthrough
            default:
                onError(token, 'UNEXPECTED_TOKEN', `Unexpected ${token.type} token`);
                atNewline = false;
                hasSpace = false;
        }
    }
    const last = tokens[tokens.length - 1];
    const end = last ? last.offset + last.source.length : offset;
    if (reqSpace &&
        next &&
        next.type !== 'space' &&
        next.type !== 'newline' &&
        next.type !== 'comma' &&
        (next.type !== 'scalar' || next.source !== '')) {
        onError(next.offset, 'MISSING_CHAR', 'Tags and anchors must be separated from the next token by white space');
    }
    if (tab &&
        ((atNewline && tab.indent <= parentIndent) ||
            next?.type === 'block-map' ||
            next?.type === 'block-seq'))
        onError(tab, 'TAB_AS_INDENT', 'Tabs are not allowed as indentation');
    return {
        comma,
        found,
        spaceBefore,
        comment,
        hasNewline,
        anchor,
        tag,
        newlineAfterProp,
        end,
        start: start ?? end
    };
}

exports.resolveProps = resolveProps;


/***/ }),

/***/ 9499:
/***/ ((__unused_webpack_module, exports) => {



function containsNewline(key) {
    if (!key)
        return null;
    switch (key.type) {
        case 'alias':
        case 'scalar':
        case 'double-quoted-scalar':
        case 'single-quoted-scalar':
            if (key.source.includes('\n'))
                return true;
            if (key.end)
                for (const st of key.end)
                    if (st.type === 'newline')
                        return true;
            return false;
        case 'flow-collection':
            for (const it of key.items) {
                for (const st of it.start)
                    if (st.type === 'newline')
                        return true;
                if (it.sep)
                    for (const st of it.sep)
                        if (st.type === 'newline')
                            return true;
                if (containsNewline(it.key) || containsNewline(it.value))
                    return true;
            }
            return false;
        default:
            return true;
    }
}

exports.containsNewline = containsNewline;


/***/ }),

/***/ 2599:
/***/ ((__unused_webpack_module, exports) => {



function emptyScalarPosition(offset, before, pos) {
    if (before) {
        pos ?? (pos = before.length);
        for (let i = pos - 1; i >= 0; --i) {
            let st = before[i];
            switch (st.type) {
                case 'space':
                case 'comment':
                case 'newline':
                    offset -= st.source.length;
                    continue;
            }
            // Technically, an empty scalar is immediately after the last non-empty
            // node, but it's more useful to place it after any whitespace.
            st = before[++i];
            while (st?.type === 'space') {
                offset += st.source.length;
                st = before[++i];
            }
            break;
        }
    }
    return offset;
}

exports.emptyScalarPosition = emptyScalarPosition;


/***/ }),

/***/ 4051:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var utilContainsNewline = __nccwpck_require__(9499);

function flowIndentCheck(indent, fc, onError) {
    if (fc?.type === 'flow-collection') {
        const end = fc.end[0];
        if (end.indent === indent &&
            (end.source === ']' || end.source === '}') &&
            utilContainsNewline.containsNewline(fc)) {
            const msg = 'Flow end indicator should be more indented than parent';
            onError(end, 'BAD_INDENT', msg, true);
        }
    }
}

exports.flowIndentCheck = flowIndentCheck;


/***/ }),

/***/ 1187:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var identity = __nccwpck_require__(1127);

function mapIncludes(ctx, items, search) {
    const { uniqueKeys } = ctx.options;
    if (uniqueKeys === false)
        return false;
    const isEqual = typeof uniqueKeys === 'function'
        ? uniqueKeys
        : (a, b) => a === b || (identity.isScalar(a) && identity.isScalar(b) && a.value === b.value);
    return items.some(pair => isEqual(pair.key, search));
}

exports.mapIncludes = mapIncludes;


/***/ }),

/***/ 3021:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var Alias = __nccwpck_require__(4065);
var Collection = __nccwpck_require__(101);
var identity = __nccwpck_require__(1127);
var Pair = __nccwpck_require__(7165);
var toJS = __nccwpck_require__(4043);
var Schema = __nccwpck_require__(5840);
var stringifyDocument = __nccwpck_require__(6829);
var anchors = __nccwpck_require__(1596);
var applyReviver = __nccwpck_require__(3661);
var createNode = __nccwpck_require__(2404);
var directives = __nccwpck_require__(1342);

class Document {
    constructor(value, replacer, options) {
        /** A comment before this Document */
        this.commentBefore = null;
        /** A comment immediately after this Document */
        this.comment = null;
        /** Errors encountered during parsing. */
        this.errors = [];
        /** Warnings encountered during parsing. */
        this.warnings = [];
        Object.defineProperty(this, identity.NODE_TYPE, { value: identity.DOC });
        let _replacer = null;
        if (typeof replacer === 'function' || Array.isArray(replacer)) {
            _replacer = replacer;
        }
        else if (options === undefined && replacer) {
            options = replacer;
            replacer = undefined;
        }
        const opt = Object.assign({
            intAsBigInt: false,
            keepSourceTokens: false,
            logLevel: 'warn',
            prettyErrors: true,
            strict: true,
            stringKeys: false,
            uniqueKeys: true,
            version: '1.2'
        }, options);
        this.options = opt;
        let { version } = opt;
        if (options?._directives) {
            this.directives = options._directives.atDocument();
            if (this.directives.yaml.explicit)
                version = this.directives.yaml.version;
        }
        else
            this.directives = new directives.Directives({ version });
        this.setSchema(version, options);
        // @ts-expect-error We can't really know that this matches Contents.
        this.contents =
            value === undefined ? null : this.createNode(value, _replacer, options);
    }
    /**
     * Create a deep copy of this Document and its contents.
     *
     * Custom Node values that inherit from `Object` still refer to their original instances.
     */
    clone() {
        const copy = Object.create(Document.prototype, {
            [identity.NODE_TYPE]: { value: identity.DOC }
        });
        copy.commentBefore = this.commentBefore;
        copy.comment = this.comment;
        copy.errors = this.errors.slice();
        copy.warnings = this.warnings.slice();
        copy.options = Object.assign({}, this.options);
        if (this.directives)
            copy.directives = this.directives.clone();
        copy.schema = this.schema.clone();
        // @ts-expect-error We can't really know that this matches Contents.
        copy.contents = identity.isNode(this.contents)
            ? this.contents.clone(copy.schema)
            : this.contents;
        if (this.range)
            copy.range = this.range.slice();
        return copy;
    }
    /** Adds a value to the document. */
    add(value) {
        if (assertCollection(this.contents))
            this.contents.add(value);
    }
    /** Adds a value to the document. */
    addIn(path, value) {
        if (assertCollection(this.contents))
            this.contents.addIn(path, value);
    }
    /**
     * Create a new `Alias` node, ensuring that the target `node` has the required anchor.
     *
     * If `node` already has an anchor, `name` is ignored.
     * Otherwise, the `node.anchor` value will be set to `name`,
     * or if an anchor with that name is already present in the document,
     * `name` will be used as a prefix for a new unique anchor.
     * If `name` is undefined, the generated anchor will use 'a' as a prefix.
     */
    createAlias(node, name) {
        if (!node.anchor) {
            const prev = anchors.anchorNames(this);
            node.anchor =
                // eslint-disable-next-line @typescript-eslint/prefer-nullish-coalescing
                !name || prev.has(name) ? anchors.findNewAnchor(name || 'a', prev) : name;
        }
        return new Alias.Alias(node.anchor);
    }
    createNode(value, replacer, options) {
        let _replacer = undefined;
        if (typeof replacer === 'function') {
            value = replacer.call({ '': value }, '', value);
            _replacer = replacer;
        }
        else if (Array.isArray(replacer)) {
            const keyToStr = (v) => typeof v === 'number' || v instanceof String || v instanceof Number;
            const asStr = replacer.filter(keyToStr).map(String);
            if (asStr.length > 0)
                replacer = replacer.concat(asStr);
            _replacer = replacer;
        }
        else if (options === undefined && replacer) {
            options = replacer;
            replacer = undefined;
        }
        const { aliasDuplicateObjects, anchorPrefix, flow, keepUndefined, onTagObj, tag } = options ?? {};
        const { onAnchor, setAnchors, sourceObjects } = anchors.createNodeAnchors(this, 
        // eslint-disable-next-line @typescript-eslint/prefer-nullish-coalescing
        anchorPrefix || 'a');
        const ctx = {
            aliasDuplicateObjects: aliasDuplicateObjects ?? true,
            keepUndefined: keepUndefined ?? false,
            onAnchor,
            onTagObj,
            replacer: _replacer,
            schema: this.schema,
            sourceObjects
        };
        const node = createNode.createNode(value, tag, ctx);
        if (flow && identity.isCollection(node))
            node.flow = true;
        setAnchors();
        return node;
    }
    /**
     * Convert a key and a value into a `Pair` using the current schema,
     * recursively wrapping all values as `Scalar` or `Collection` nodes.
     */
    createPair(key, value, options = {}) {
        const k = this.createNode(key, null, options);
        const v = this.createNode(value, null, options);
        return new Pair.Pair(k, v);
    }
    /**
     * Removes a value from the document.
     * @returns `true` if the item was found and removed.
     */
    delete(key) {
        return assertCollection(this.contents) ? this.contents.delete(key) : false;
    }
    /**
     * Removes a value from the document.
     * @returns `true` if the item was found and removed.
     */
    deleteIn(path) {
        if (Collection.isEmptyPath(path)) {
            if (this.contents == null)
                return false;
            // @ts-expect-error Presumed impossible if Strict extends false
            this.contents = null;
            return true;
        }
        return assertCollection(this.contents)
            ? this.contents.deleteIn(path)
            : false;
    }
    /**
     * Returns item at `key`, or `undefined` if not found. By default unwraps
     * scalar values from their surrounding node; to disable set `keepScalar` to
     * `true` (collections are always returned intact).
     */
    get(key, keepScalar) {
        return identity.isCollection(this.contents)
            ? this.contents.get(key, keepScalar)
            : undefined;
    }
    /**
     * Returns item at `path`, or `undefined` if not found. By default unwraps
     * scalar values from their surrounding node; to disable set `keepScalar` to
     * `true` (collections are always returned intact).
     */
    getIn(path, keepScalar) {
        if (Collection.isEmptyPath(path))
            return !keepScalar && identity.isScalar(this.contents)
                ? this.contents.value
                : this.contents;
        return identity.isCollection(this.contents)
            ? this.contents.getIn(path, keepScalar)
            : undefined;
    }
    /**
     * Checks if the document includes a value with the key `key`.
     */
    has(key) {
        return identity.isCollection(this.contents) ? this.contents.has(key) : false;
    }
    /**
     * Checks if the document includes a value at `path`.
     */
    hasIn(path) {
        if (Collection.isEmptyPath(path))
            return this.contents !== undefined;
        return identity.isCollection(this.contents) ? this.contents.hasIn(path) : false;
    }
    /**
     * Sets a value in this document. For `!!set`, `value` needs to be a
     * boolean to add/remove the item from the set.
     */
    set(key, value) {
        if (this.contents == null) {
            // @ts-expect-error We can't really know that this matches Contents.
            this.contents = Collection.collectionFromPath(this.schema, [key], value);
        }
        else if (assertCollection(this.contents)) {
            this.contents.set(key, value);
        }
    }
    /**
     * Sets a value in this document. For `!!set`, `value` needs to be a
     * boolean to add/remove the item from the set.
     */
    setIn(path, value) {
        if (Collection.isEmptyPath(path)) {
            // @ts-expect-error We can't really know that this matches Contents.
            this.contents = value;
        }
        else if (this.contents == null) {
            // @ts-expect-error We can't really know that this matches Contents.
            this.contents = Collection.collectionFromPath(this.schema, Array.from(path), value);
        }
        else if (assertCollection(this.contents)) {
            this.contents.setIn(path, value);
        }
    }
    /**
     * Change the YAML version and schema used by the document.
     * A `null` version disables support for directives, explicit tags, anchors, and aliases.
     * It also requires the `schema` option to be given as a `Schema` instance value.
     *
     * Overrides all previously set schema options.
     */
    setSchema(version, options = {}) {
        if (typeof version === 'number')
            version = String(version);
        let opt;
        switch (version) {
            case '1.1':
                if (this.directives)
                    this.directives.yaml.version = '1.1';
                else
                    this.directives = new directives.Directives({ version: '1.1' });
                opt = { resolveKnownTags: false, schema: 'yaml-1.1' };
                break;
            case '1.2':
            case 'next':
                if (this.directives)
                    this.directives.yaml.version = version;
                else
                    this.directives = new directives.Directives({ version });
                opt = { resolveKnownTags: true, schema: 'core' };
                break;
            case null:
                if (this.directives)
                    delete this.directives;
                opt = null;
                break;
            default: {
                const sv = JSON.stringify(version);
                throw new Error(`Expected '1.1', '1.2' or null as first argument, but found: ${sv}`);
            }
        }
        // Not using `instanceof Schema` to allow for duck typing
        if (options.schema instanceof Object)
            this.schema = options.schema;
        else if (opt)
            this.schema = new Schema.Schema(Object.assign(opt, options));
        else
            throw new Error(`With a null YAML version, the { schema: Schema } option is required`);
    }
    // json & jsonArg are only used from toJSON()
    toJS({ json, jsonArg, mapAsMap, maxAliasCount, onAnchor, reviver } = {}) {
        const ctx = {
            anchors: new Map(),
            doc: this,
            keep: !json,
            mapAsMap: mapAsMap === true,
            mapKeyWarned: false,
            maxAliasCount: typeof maxAliasCount === 'number' ? maxAliasCount : 100
        };
        const res = toJS.toJS(this.contents, jsonArg ?? '', ctx);
        if (typeof onAnchor === 'function')
            for (const { count, res } of ctx.anchors.values())
                onAnchor(res, count);
        return typeof reviver === 'function'
            ? applyReviver.applyReviver(reviver, { '': res }, '', res)
            : res;
    }
    /**
     * A JSON representation of the document `contents`.
     *
     * @param jsonArg Used by `JSON.stringify` to indicate the array index or
     *   property name.
     */
    toJSON(jsonArg, onAnchor) {
        return this.toJS({ json: true, jsonArg, mapAsMap: false, onAnchor });
    }
    /** A YAML representation of the document. */
    toString(options = {}) {
        if (this.errors.length > 0)
            throw new Error('Document with errors cannot be stringified');
        if ('indent' in options &&
            (!Number.isInteger(options.indent) || Number(options.indent) <= 0)) {
            const s = JSON.stringify(options.indent);
            throw new Error(`"indent" option must be a positive integer, not ${s}`);
        }
        return stringifyDocument.stringifyDocument(this, options);
    }
}
function assertCollection(contents) {
    if (identity.isCollection(contents))
        return true;
    throw new Error('Expected a YAML collection as document contents');
}

exports.Document = Document;


/***/ }),

/***/ 1596:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var identity = __nccwpck_require__(1127);
var visit = __nccwpck_require__(204);

/**
 * Verify that the input string is a valid anchor.
 *
 * Will throw on errors.
 */
function anchorIsValid(anchor) {
    if (/[\x00-\x19\s,[\]{}]/.test(anchor)) {
        const sa = JSON.stringify(anchor);
        const msg = `Anchor must not contain whitespace or control characters: ${sa}`;
        throw new Error(msg);
    }
    return true;
}
function anchorNames(root) {
    const anchors = new Set();
    visit.visit(root, {
        Value(_key, node) {
            if (node.anchor)
                anchors.add(node.anchor);
        }
    });
    return anchors;
}
/** Find a new anchor name with the given `prefix` and a one-indexed suffix. */
function findNewAnchor(prefix, exclude) {
    for (let i = 1; true; ++i) {
        const name = `${prefix}${i}`;
        if (!exclude.has(name))
            return name;
    }
}
function createNodeAnchors(doc, prefix) {
    const aliasObjects = [];
    const sourceObjects = new Map();
    let prevAnchors = null;
    return {
        onAnchor: (source) => {
            aliasObjects.push(source);
            prevAnchors ?? (prevAnchors = anchorNames(doc));
            const anchor = findNewAnchor(prefix, prevAnchors);
            prevAnchors.add(anchor);
            return anchor;
        },
        /**
         * With circular references, the source node is only resolved after all
         * of its child nodes are. This is why anchors are set only after all of
         * the nodes have been created.
         */
        setAnchors: () => {
            for (const source of aliasObjects) {
                const ref = sourceObjects.get(source);
                if (typeof ref === 'object' &&
                    ref.anchor &&
                    (identity.isScalar(ref.node) || identity.isCollection(ref.node))) {
                    ref.node.anchor = ref.anchor;
                }
                else {
                    const error = new Error('Failed to resolve repeated object (this should not happen)');
                    error.source = source;
                    throw error;
                }
            }
        },
        sourceObjects
    };
}

exports.anchorIsValid = anchorIsValid;
exports.anchorNames = anchorNames;
exports.createNodeAnchors = createNodeAnchors;
exports.findNewAnchor = findNewAnchor;


/***/ }),

/***/ 3661:
/***/ ((__unused_webpack_module, exports) => {



/**
 * Applies the JSON.parse reviver algorithm as defined in the ECMA-262 spec,
 * in section 24.5.1.1 "Runtime Semantics: InternalizeJSONProperty" of the
 * 2021 edition: https://tc39.es/ecma262/#sec-json.parse
 *
 * Includes extensions for handling Map and Set objects.
 */
function applyReviver(reviver, obj, key, val) {
    if (val && typeof val === 'object') {
        if (Array.isArray(val)) {
            for (let i = 0, len = val.length; i < len; ++i) {
                const v0 = val[i];
                const v1 = applyReviver(reviver, val, String(i), v0);
                // eslint-disable-next-line @typescript-eslint/no-array-delete
                if (v1 === undefined)
                    delete val[i];
                else if (v1 !== v0)
                    val[i] = v1;
            }
        }
        else if (val instanceof Map) {
            for (const k of Array.from(val.keys())) {
                const v0 = val.get(k);
                const v1 = applyReviver(reviver, val, k, v0);
                if (v1 === undefined)
                    val.delete(k);
                else if (v1 !== v0)
                    val.set(k, v1);
            }
        }
        else if (val instanceof Set) {
            for (const v0 of Array.from(val)) {
                const v1 = applyReviver(reviver, val, v0, v0);
                if (v1 === undefined)
                    val.delete(v0);
                else if (v1 !== v0) {
                    val.delete(v0);
                    val.add(v1);
                }
            }
        }
        else {
            for (const [k, v0] of Object.entries(val)) {
                const v1 = applyReviver(reviver, val, k, v0);
                if (v1 === undefined)
                    delete val[k];
                else if (v1 !== v0)
                    val[k] = v1;
            }
        }
    }
    return reviver.call(obj, key, val);
}

exports.applyReviver = applyReviver;


/***/ }),

/***/ 2404:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var Alias = __nccwpck_require__(4065);
var identity = __nccwpck_require__(1127);
var Scalar = __nccwpck_require__(3301);

const defaultTagPrefix = 'tag:yaml.org,2002:';
function findTagObject(value, tagName, tags) {
    if (tagName) {
        const match = tags.filter(t => t.tag === tagName);
        const tagObj = match.find(t => !t.format) ?? match[0];
        if (!tagObj)
            throw new Error(`Tag ${tagName} not found`);
        return tagObj;
    }
    return tags.find(t => t.identify?.(value) && !t.format);
}
function createNode(value, tagName, ctx) {
    if (identity.isDocument(value))
        value = value.contents;
    if (identity.isNode(value))
        return value;
    if (identity.isPair(value)) {
        const map = ctx.schema[identity.MAP].createNode?.(ctx.schema, null, ctx);
        map.items.push(value);
        return map;
    }
    if (value instanceof String ||
        value instanceof Number ||
        value instanceof Boolean ||
        (typeof BigInt !== 'undefined' && value instanceof BigInt) // not supported everywhere
    ) {
        // https://tc39.es/ecma262/#sec-serializejsonproperty
        value = value.valueOf();
    }
    const { aliasDuplicateObjects, onAnchor, onTagObj, schema, sourceObjects } = ctx;
    // Detect duplicate references to the same object & use Alias nodes for all
    // after first. The `ref` wrapper allows for circular references to resolve.
    let ref = undefined;
    if (aliasDuplicateObjects && value && typeof value === 'object') {
        ref = sourceObjects.get(value);
        if (ref) {
            ref.anchor ?? (ref.anchor = onAnchor(value));
            return new Alias.Alias(ref.anchor);
        }
        else {
            ref = { anchor: null, node: null };
            sourceObjects.set(value, ref);
        }
    }
    if (tagName?.startsWith('!!'))
        tagName = defaultTagPrefix + tagName.slice(2);
    let tagObj = findTagObject(value, tagName, schema.tags);
    if (!tagObj) {
        if (value && typeof value.toJSON === 'function') {
            // eslint-disable-next-line @typescript-eslint/no-unsafe-call
            value = value.toJSON();
        }
        if (!value || typeof value !== 'object') {
            const node = new Scalar.Scalar(value);
            if (ref)
                ref.node = node;
            return node;
        }
        tagObj =
            value instanceof Map
                ? schema[identity.MAP]
                : Symbol.iterator in Object(value)
                    ? schema[identity.SEQ]
                    : schema[identity.MAP];
    }
    if (onTagObj) {
        onTagObj(tagObj);
        delete ctx.onTagObj;
    }
    const node = tagObj?.createNode
        ? tagObj.createNode(ctx.schema, value, ctx)
        : typeof tagObj?.nodeClass?.from === 'function'
            ? tagObj.nodeClass.from(ctx.schema, value, ctx)
            : new Scalar.Scalar(value);
    if (tagName)
        node.tag = tagName;
    else if (!tagObj.default)
        node.tag = tagObj.tag;
    if (ref)
        ref.node = node;
    return node;
}

exports.createNode = createNode;


/***/ }),

/***/ 1342:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var identity = __nccwpck_require__(1127);
var visit = __nccwpck_require__(204);

const escapeChars = {
    '!': '%21',
    ',': '%2C',
    '[': '%5B',
    ']': '%5D',
    '{': '%7B',
    '}': '%7D'
};
const escapeTagName = (tn) => tn.replace(/[!,[\]{}]/g, ch => escapeChars[ch]);
class Directives {
    constructor(yaml, tags) {
        /**
         * The directives-end/doc-start marker `---`. If `null`, a marker may still be
         * included in the document's stringified representation.
         */
        this.docStart = null;
        /** The doc-end marker `...`.  */
        this.docEnd = false;
        this.yaml = Object.assign({}, Directives.defaultYaml, yaml);
        this.tags = Object.assign({}, Directives.defaultTags, tags);
    }
    clone() {
        const copy = new Directives(this.yaml, this.tags);
        copy.docStart = this.docStart;
        return copy;
    }
    /**
     * During parsing, get a Directives instance for the current document and
     * update the stream state according to the current version's spec.
     */
    atDocument() {
        const res = new Directives(this.yaml, this.tags);
        switch (this.yaml.version) {
            case '1.1':
                this.atNextDocument = true;
                break;
            case '1.2':
                this.atNextDocument = false;
                this.yaml = {
                    explicit: Directives.defaultYaml.explicit,
                    version: '1.2'
                };
                this.tags = Object.assign({}, Directives.defaultTags);
                break;
        }
        return res;
    }
    /**
     * @param onError - May be called even if the action was successful
     * @returns `true` on success
     */
    add(line, onError) {
        if (this.atNextDocument) {
            this.yaml = { explicit: Directives.defaultYaml.explicit, version: '1.1' };
            this.tags = Object.assign({}, Directives.defaultTags);
            this.atNextDocument = false;
        }
        const parts = line.trim().split(/[ \t]+/);
        const name = parts.shift();
        switch (name) {
            case '%TAG': {
                if (parts.length !== 2) {
                    onError(0, '%TAG directive should contain exactly two parts');
                    if (parts.length < 2)
                        return false;
                }
                const [handle, prefix] = parts;
                this.tags[handle] = prefix;
                return true;
            }
            case '%YAML': {
                this.yaml.explicit = true;
                if (parts.length !== 1) {
                    onError(0, '%YAML directive should contain exactly one part');
                    return false;
                }
                const [version] = parts;
                if (version === '1.1' || version === '1.2') {
                    this.yaml.version = version;
                    return true;
                }
                else {
                    const isValid = /^\d+\.\d+$/.test(version);
                    onError(6, `Unsupported YAML version ${version}`, isValid);
                    return false;
                }
            }
            default:
                onError(0, `Unknown directive ${name}`, true);
                return false;
        }
    }
    /**
     * Resolves a tag, matching handles to those defined in %TAG directives.
     *
     * @returns Resolved tag, which may also be the non-specific tag `'!'` or a
     *   `'!local'` tag, or `null` if unresolvable.
     */
    tagName(source, onError) {
        if (source === '!')
            return '!'; // non-specific tag
        if (source[0] !== '!') {
            onError(`Not a valid tag: ${source}`);
            return null;
        }
        if (source[1] === '<') {
            const verbatim = source.slice(2, -1);
            if (verbatim === '!' || verbatim === '!!') {
                onError(`Verbatim tags aren't resolved, so ${source} is invalid.`);
                return null;
            }
            if (source[source.length - 1] !== '>')
                onError('Verbatim tags must end with a >');
            return verbatim;
        }
        const [, handle, suffix] = source.match(/^(.*!)([^!]*)$/s);
        if (!suffix)
            onError(`The ${source} tag has no suffix`);
        const prefix = this.tags[handle];
        if (prefix) {
            try {
                return prefix + decodeURIComponent(suffix);
            }
            catch (error) {
                onError(String(error));
                return null;
            }
        }
        if (handle === '!')
            return source; // local tag
        onError(`Could not resolve tag: ${source}`);
        return null;
    }
    /**
     * Given a fully resolved tag, returns its printable string form,
     * taking into account current tag prefixes and defaults.
     */
    tagString(tag) {
        for (const [handle, prefix] of Object.entries(this.tags)) {
            if (tag.startsWith(prefix))
                return handle + escapeTagName(tag.substring(prefix.length));
        }
        return tag[0] === '!' ? tag : `!<${tag}>`;
    }
    toString(doc) {
        const lines = this.yaml.explicit
            ? [`%YAML ${this.yaml.version || '1.2'}`]
            : [];
        const tagEntries = Object.entries(this.tags);
        let tagNames;
        if (doc && tagEntries.length > 0 && identity.isNode(doc.contents)) {
            const tags = {};
            visit.visit(doc.contents, (_key, node) => {
                if (identity.isNode(node) && node.tag)
                    tags[node.tag] = true;
            });
            tagNames = Object.keys(tags);
        }
        else
            tagNames = [];
        for (const [handle, prefix] of tagEntries) {
            if (handle === '!!' && prefix === 'tag:yaml.org,2002:')
                continue;
            if (!doc || tagNames.some(tn => tn.startsWith(prefix)))
                lines.push(`%TAG ${handle} ${prefix}`);
        }
        return lines.join('\n');
    }
}
Directives.defaultYaml = { explicit: false, version: '1.2' };
Directives.defaultTags = { '!!': 'tag:yaml.org,2002:' };

exports.Directives = Directives;


/***/ }),

/***/ 1464:
/***/ ((__unused_webpack_module, exports) => {



class YAMLError extends Error {
    constructor(name, pos, code, message) {
        super();
        this.name = name;
        this.code = code;
        this.message = message;
        this.pos = pos;
    }
}
class YAMLParseError extends YAMLError {
    constructor(pos, code, message) {
        super('YAMLParseError', pos, code, message);
    }
}
class YAMLWarning extends YAMLError {
    constructor(pos, code, message) {
        super('YAMLWarning', pos, code, message);
    }
}
const prettifyError = (src, lc) => (error) => {
    if (error.pos[0] === -1)
        return;
    error.linePos = error.pos.map(pos => lc.linePos(pos));
    const { line, col } = error.linePos[0];
    error.message += ` at line ${line}, column ${col}`;
    let ci = col - 1;
    let lineStr = src
        .substring(lc.lineStarts[line - 1], lc.lineStarts[line])
        .replace(/[\n\r]+$/, '');
    // Trim to max 80 chars, keeping col position near the middle
    if (ci >= 60 && lineStr.length > 80) {
        const trimStart = Math.min(ci - 39, lineStr.length - 79);
        lineStr = '…' + lineStr.substring(trimStart);
        ci -= trimStart - 1;
    }
    if (lineStr.length > 80)
        lineStr = lineStr.substring(0, 79) + '…';
    // Include previous line in context if pointing at line start
    if (line > 1 && /^ *$/.test(lineStr.substring(0, ci))) {
        // Regexp won't match if start is trimmed
        let prev = src.substring(lc.lineStarts[line - 2], lc.lineStarts[line - 1]);
        if (prev.length > 80)
            prev = prev.substring(0, 79) + '…\n';
        lineStr = prev + lineStr;
    }
    if (/[^ ]/.test(lineStr)) {
        let count = 1;
        const end = error.linePos[1];
        if (end?.line === line && end.col > col) {
            count = Math.max(1, Math.min(end.col - col, 80 - ci));
        }
        const pointer = ' '.repeat(ci) + '^'.repeat(count);
        error.message += `:\n\n${lineStr}\n${pointer}\n`;
    }
};

exports.YAMLError = YAMLError;
exports.YAMLParseError = YAMLParseError;
exports.YAMLWarning = YAMLWarning;
exports.prettifyError = prettifyError;


/***/ }),

/***/ 8815:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {

var __webpack_unused_export__;


var composer = __nccwpck_require__(9984);
var Document = __nccwpck_require__(3021);
var Schema = __nccwpck_require__(5840);
var errors = __nccwpck_require__(1464);
var Alias = __nccwpck_require__(4065);
var identity = __nccwpck_require__(1127);
var Pair = __nccwpck_require__(7165);
var Scalar = __nccwpck_require__(3301);
var YAMLMap = __nccwpck_require__(4454);
var YAMLSeq = __nccwpck_require__(2223);
var cst = __nccwpck_require__(3461);
var lexer = __nccwpck_require__(361);
var lineCounter = __nccwpck_require__(6628);
var parser = __nccwpck_require__(3456);
var publicApi = __nccwpck_require__(4047);
var visit = __nccwpck_require__(204);



__webpack_unused_export__ = composer.Composer;
__webpack_unused_export__ = Document.Document;
__webpack_unused_export__ = Schema.Schema;
__webpack_unused_export__ = errors.YAMLError;
__webpack_unused_export__ = errors.YAMLParseError;
__webpack_unused_export__ = errors.YAMLWarning;
__webpack_unused_export__ = Alias.Alias;
exports.Vj = identity.isAlias;
__webpack_unused_export__ = identity.isCollection;
__webpack_unused_export__ = identity.isDocument;
exports.jh = identity.isMap;
__webpack_unused_export__ = identity.isNode;
__webpack_unused_export__ = identity.isPair;
exports.jn = identity.isScalar;
exports.oP = identity.isSeq;
__webpack_unused_export__ = Pair.Pair;
__webpack_unused_export__ = Scalar.Scalar;
__webpack_unused_export__ = YAMLMap.YAMLMap;
__webpack_unused_export__ = YAMLSeq.YAMLSeq;
__webpack_unused_export__ = cst;
__webpack_unused_export__ = lexer.Lexer;
exports.HN = lineCounter.LineCounter;
__webpack_unused_export__ = parser.Parser;
__webpack_unused_export__ = publicApi.parse;
__webpack_unused_export__ = publicApi.parseAllDocuments;
exports.Tp = publicApi.parseDocument;
__webpack_unused_export__ = publicApi.stringify;
__webpack_unused_export__ = visit.visit;
__webpack_unused_export__ = visit.visitAsync;


/***/ }),

/***/ 7249:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var node_process = __nccwpck_require__(932);

function debug(logLevel, ...messages) {
    if (logLevel === 'debug')
        console.log(...messages);
}
function warn(logLevel, warning) {
    if (logLevel === 'debug' || logLevel === 'warn') {
        if (typeof node_process.emitWarning === 'function')
            node_process.emitWarning(warning);
        else
            console.warn(warning);
    }
}

exports.debug = debug;
exports.warn = warn;


/***/ }),

/***/ 4065:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var anchors = __nccwpck_require__(1596);
var visit = __nccwpck_require__(204);
var identity = __nccwpck_require__(1127);
var Node = __nccwpck_require__(6673);
var toJS = __nccwpck_require__(4043);

class Alias extends Node.NodeBase {
    constructor(source) {
        super(identity.ALIAS);
        this.source = source;
        Object.defineProperty(this, 'tag', {
            set() {
                throw new Error('Alias nodes cannot have tags');
            }
        });
    }
    /**
     * Resolve the value of this alias within `doc`, finding the last
     * instance of the `source` anchor before this node.
     */
    resolve(doc, ctx) {
        if (ctx?.maxAliasCount === 0)
            throw new ReferenceError('Alias resolution is disabled');
        let nodes;
        if (ctx?.aliasResolveCache) {
            nodes = ctx.aliasResolveCache;
        }
        else {
            nodes = [];
            visit.visit(doc, {
                Node: (_key, node) => {
                    if (identity.isAlias(node) || identity.hasAnchor(node))
                        nodes.push(node);
                }
            });
            if (ctx)
                ctx.aliasResolveCache = nodes;
        }
        let found = undefined;
        for (const node of nodes) {
            if (node === this)
                break;
            if (node.anchor === this.source)
                found = node;
        }
        if (found && ctx) {
            const { anchors, doc, maxAliasCount } = ctx;
            let data = anchors.get(found);
            if (!data) {
                // Resolve anchors for Node.prototype.toJS()
                toJS.toJS(found, null, ctx);
                data = anchors.get(found);
            }
            /* istanbul ignore if */
            if (data?.res === undefined) {
                const msg = 'This should not happen: Alias anchor was not resolved?';
                throw new ReferenceError(msg);
            }
            if (maxAliasCount >= 0) {
                data.count += 1;
                if (data.aliasCount === 0)
                    data.aliasCount = getAliasCount(doc, found, anchors);
                if (data.count * data.aliasCount > maxAliasCount) {
                    const msg = 'Excessive alias count indicates a resource exhaustion attack';
                    throw new ReferenceError(msg);
                }
            }
        }
        return found;
    }
    toJSON(_arg, ctx) {
        if (!ctx)
            return { source: this.source };
        const source = this.resolve(ctx.doc, ctx);
        if (!source) {
            const msg = `Unresolved alias (the anchor must be set before the alias): ${this.source}`;
            throw new ReferenceError(msg);
        }
        return ctx.anchors.get(source).res;
    }
    toString(ctx, _onComment, _onChompKeep) {
        const src = `*${this.source}`;
        if (ctx) {
            anchors.anchorIsValid(this.source);
            if (ctx.options.verifyAliasOrder && !ctx.anchors.has(this.source)) {
                const msg = `Unresolved alias (the anchor must be set before the alias): ${this.source}`;
                throw new Error(msg);
            }
            if (ctx.implicitKey)
                return `${src} `;
        }
        return src;
    }
}
function getAliasCount(doc, node, anchors) {
    if (identity.isAlias(node)) {
        const source = node.resolve(doc);
        const anchor = anchors && source && anchors.get(source);
        return anchor ? anchor.count * anchor.aliasCount : 0;
    }
    else if (identity.isCollection(node)) {
        let count = 0;
        for (const item of node.items) {
            const c = getAliasCount(doc, item, anchors);
            if (c > count)
                count = c;
        }
        return count;
    }
    else if (identity.isPair(node)) {
        const kc = getAliasCount(doc, node.key, anchors);
        const vc = getAliasCount(doc, node.value, anchors);
        return Math.max(kc, vc);
    }
    return 1;
}

exports.Alias = Alias;


/***/ }),

/***/ 101:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var createNode = __nccwpck_require__(2404);
var identity = __nccwpck_require__(1127);
var Node = __nccwpck_require__(6673);

function collectionFromPath(schema, path, value) {
    let v = value;
    for (let i = path.length - 1; i >= 0; --i) {
        const k = path[i];
        if (typeof k === 'number' && Number.isInteger(k) && k >= 0) {
            const a = [];
            a[k] = v;
            v = a;
        }
        else {
            v = new Map([[k, v]]);
        }
    }
    return createNode.createNode(v, undefined, {
        aliasDuplicateObjects: false,
        keepUndefined: false,
        onAnchor: () => {
            throw new Error('This should not happen, please report a bug.');
        },
        schema,
        sourceObjects: new Map()
    });
}
// Type guard is intentionally a little wrong so as to be more useful,
// as it does not cover untypable empty non-string iterables (e.g. []).
const isEmptyPath = (path) => path == null ||
    (typeof path === 'object' && !!path[Symbol.iterator]().next().done);
class Collection extends Node.NodeBase {
    constructor(type, schema) {
        super(type);
        Object.defineProperty(this, 'schema', {
            value: schema,
            configurable: true,
            enumerable: false,
            writable: true
        });
    }
    /**
     * Create a copy of this collection.
     *
     * @param schema - If defined, overwrites the original's schema
     */
    clone(schema) {
        const copy = Object.create(Object.getPrototypeOf(this), Object.getOwnPropertyDescriptors(this));
        if (schema)
            copy.schema = schema;
        copy.items = copy.items.map(it => identity.isNode(it) || identity.isPair(it) ? it.clone(schema) : it);
        if (this.range)
            copy.range = this.range.slice();
        return copy;
    }
    /**
     * Adds a value to the collection. For `!!map` and `!!omap` the value must
     * be a Pair instance or a `{ key, value }` object, which may not have a key
     * that already exists in the map.
     */
    addIn(path, value) {
        if (isEmptyPath(path))
            this.add(value);
        else {
            const [key, ...rest] = path;
            const node = this.get(key, true);
            if (identity.isCollection(node))
                node.addIn(rest, value);
            else if (node === undefined && this.schema)
                this.set(key, collectionFromPath(this.schema, rest, value));
            else
                throw new Error(`Expected YAML collection at ${key}. Remaining path: ${rest}`);
        }
    }
    /**
     * Removes a value from the collection.
     * @returns `true` if the item was found and removed.
     */
    deleteIn(path) {
        const [key, ...rest] = path;
        if (rest.length === 0)
            return this.delete(key);
        const node = this.get(key, true);
        if (identity.isCollection(node))
            return node.deleteIn(rest);
        else
            throw new Error(`Expected YAML collection at ${key}. Remaining path: ${rest}`);
    }
    /**
     * Returns item at `key`, or `undefined` if not found. By default unwraps
     * scalar values from their surrounding node; to disable set `keepScalar` to
     * `true` (collections are always returned intact).
     */
    getIn(path, keepScalar) {
        const [key, ...rest] = path;
        const node = this.get(key, true);
        if (rest.length === 0)
            return !keepScalar && identity.isScalar(node) ? node.value : node;
        else
            return identity.isCollection(node) ? node.getIn(rest, keepScalar) : undefined;
    }
    hasAllNullValues(allowScalar) {
        return this.items.every(node => {
            if (!identity.isPair(node))
                return false;
            const n = node.value;
            return (n == null ||
                (allowScalar &&
                    identity.isScalar(n) &&
                    n.value == null &&
                    !n.commentBefore &&
                    !n.comment &&
                    !n.tag));
        });
    }
    /**
     * Checks if the collection includes a value with the key `key`.
     */
    hasIn(path) {
        const [key, ...rest] = path;
        if (rest.length === 0)
            return this.has(key);
        const node = this.get(key, true);
        return identity.isCollection(node) ? node.hasIn(rest) : false;
    }
    /**
     * Sets a value in this collection. For `!!set`, `value` needs to be a
     * boolean to add/remove the item from the set.
     */
    setIn(path, value) {
        const [key, ...rest] = path;
        if (rest.length === 0) {
            this.set(key, value);
        }
        else {
            const node = this.get(key, true);
            if (identity.isCollection(node))
                node.setIn(rest, value);
            else if (node === undefined && this.schema)
                this.set(key, collectionFromPath(this.schema, rest, value));
            else
                throw new Error(`Expected YAML collection at ${key}. Remaining path: ${rest}`);
        }
    }
}

exports.Collection = Collection;
exports.collectionFromPath = collectionFromPath;
exports.isEmptyPath = isEmptyPath;


/***/ }),

/***/ 6673:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var applyReviver = __nccwpck_require__(3661);
var identity = __nccwpck_require__(1127);
var toJS = __nccwpck_require__(4043);

class NodeBase {
    constructor(type) {
        Object.defineProperty(this, identity.NODE_TYPE, { value: type });
    }
    /** Create a copy of this node.  */
    clone() {
        const copy = Object.create(Object.getPrototypeOf(this), Object.getOwnPropertyDescriptors(this));
        if (this.range)
            copy.range = this.range.slice();
        return copy;
    }
    /** A plain JavaScript representation of this node. */
    toJS(doc, { mapAsMap, maxAliasCount, onAnchor, reviver } = {}) {
        if (!identity.isDocument(doc))
            throw new TypeError('A document argument is required');
        const ctx = {
            anchors: new Map(),
            doc,
            keep: true,
            mapAsMap: mapAsMap === true,
            mapKeyWarned: false,
            maxAliasCount: typeof maxAliasCount === 'number' ? maxAliasCount : 100
        };
        const res = toJS.toJS(this, '', ctx);
        if (typeof onAnchor === 'function')
            for (const { count, res } of ctx.anchors.values())
                onAnchor(res, count);
        return typeof reviver === 'function'
            ? applyReviver.applyReviver(reviver, { '': res }, '', res)
            : res;
    }
}

exports.NodeBase = NodeBase;


/***/ }),

/***/ 7165:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var createNode = __nccwpck_require__(2404);
var stringifyPair = __nccwpck_require__(9748);
var addPairToJSMap = __nccwpck_require__(7104);
var identity = __nccwpck_require__(1127);

function createPair(key, value, ctx) {
    const k = createNode.createNode(key, undefined, ctx);
    const v = createNode.createNode(value, undefined, ctx);
    return new Pair(k, v);
}
class Pair {
    constructor(key, value = null) {
        Object.defineProperty(this, identity.NODE_TYPE, { value: identity.PAIR });
        this.key = key;
        this.value = value;
    }
    clone(schema) {
        let { key, value } = this;
        if (identity.isNode(key))
            key = key.clone(schema);
        if (identity.isNode(value))
            value = value.clone(schema);
        return new Pair(key, value);
    }
    toJSON(_, ctx) {
        const pair = ctx?.mapAsMap ? new Map() : {};
        return addPairToJSMap.addPairToJSMap(ctx, pair, this);
    }
    toString(ctx, onComment, onChompKeep) {
        return ctx?.doc
            ? stringifyPair.stringifyPair(this, ctx, onComment, onChompKeep)
            : JSON.stringify(this);
    }
}

exports.Pair = Pair;
exports.createPair = createPair;


/***/ }),

/***/ 3301:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var identity = __nccwpck_require__(1127);
var Node = __nccwpck_require__(6673);
var toJS = __nccwpck_require__(4043);

const isScalarValue = (value) => !value || (typeof value !== 'function' && typeof value !== 'object');
class Scalar extends Node.NodeBase {
    constructor(value) {
        super(identity.SCALAR);
        this.value = value;
    }
    toJSON(arg, ctx) {
        return ctx?.keep ? this.value : toJS.toJS(this.value, arg, ctx);
    }
    toString() {
        return String(this.value);
    }
}
Scalar.BLOCK_FOLDED = 'BLOCK_FOLDED';
Scalar.BLOCK_LITERAL = 'BLOCK_LITERAL';
Scalar.PLAIN = 'PLAIN';
Scalar.QUOTE_DOUBLE = 'QUOTE_DOUBLE';
Scalar.QUOTE_SINGLE = 'QUOTE_SINGLE';

exports.Scalar = Scalar;
exports.isScalarValue = isScalarValue;


/***/ }),

/***/ 4454:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var stringifyCollection = __nccwpck_require__(1212);
var addPairToJSMap = __nccwpck_require__(7104);
var Collection = __nccwpck_require__(101);
var identity = __nccwpck_require__(1127);
var Pair = __nccwpck_require__(7165);
var Scalar = __nccwpck_require__(3301);

function findPair(items, key) {
    const k = identity.isScalar(key) ? key.value : key;
    for (const it of items) {
        if (identity.isPair(it)) {
            if (it.key === key || it.key === k)
                return it;
            if (identity.isScalar(it.key) && it.key.value === k)
                return it;
        }
    }
    return undefined;
}
class YAMLMap extends Collection.Collection {
    static get tagName() {
        return 'tag:yaml.org,2002:map';
    }
    constructor(schema) {
        super(identity.MAP, schema);
        this.items = [];
    }
    /**
     * A generic collection parsing method that can be extended
     * to other node classes that inherit from YAMLMap
     */
    static from(schema, obj, ctx) {
        const { keepUndefined, replacer } = ctx;
        const map = new this(schema);
        const add = (key, value) => {
            if (typeof replacer === 'function')
                value = replacer.call(obj, key, value);
            else if (Array.isArray(replacer) && !replacer.includes(key))
                return;
            if (value !== undefined || keepUndefined)
                map.items.push(Pair.createPair(key, value, ctx));
        };
        if (obj instanceof Map) {
            for (const [key, value] of obj)
                add(key, value);
        }
        else if (obj && typeof obj === 'object') {
            for (const key of Object.keys(obj))
                add(key, obj[key]);
        }
        if (typeof schema.sortMapEntries === 'function') {
            map.items.sort(schema.sortMapEntries);
        }
        return map;
    }
    /**
     * Adds a value to the collection.
     *
     * @param overwrite - If not set `true`, using a key that is already in the
     *   collection will throw. Otherwise, overwrites the previous value.
     */
    add(pair, overwrite) {
        let _pair;
        if (identity.isPair(pair))
            _pair = pair;
        else if (!pair || typeof pair !== 'object' || !('key' in pair)) {
            // In TypeScript, this never happens.
            _pair = new Pair.Pair(pair, pair?.value);
        }
        else
            _pair = new Pair.Pair(pair.key, pair.value);
        const prev = findPair(this.items, _pair.key);
        const sortEntries = this.schema?.sortMapEntries;
        if (prev) {
            if (!overwrite)
                throw new Error(`Key ${_pair.key} already set`);
            // For scalars, keep the old node & its comments and anchors
            if (identity.isScalar(prev.value) && Scalar.isScalarValue(_pair.value))
                prev.value.value = _pair.value;
            else
                prev.value = _pair.value;
        }
        else if (sortEntries) {
            const i = this.items.findIndex(item => sortEntries(_pair, item) < 0);
            if (i === -1)
                this.items.push(_pair);
            else
                this.items.splice(i, 0, _pair);
        }
        else {
            this.items.push(_pair);
        }
    }
    delete(key) {
        const it = findPair(this.items, key);
        if (!it)
            return false;
        const del = this.items.splice(this.items.indexOf(it), 1);
        return del.length > 0;
    }
    get(key, keepScalar) {
        const it = findPair(this.items, key);
        const node = it?.value;
        return (!keepScalar && identity.isScalar(node) ? node.value : node) ?? undefined;
    }
    has(key) {
        return !!findPair(this.items, key);
    }
    set(key, value) {
        this.add(new Pair.Pair(key, value), true);
    }
    /**
     * @param ctx - Conversion context, originally set in Document#toJS()
     * @param {Class} Type - If set, forces the returned collection type
     * @returns Instance of Type, Map, or Object
     */
    toJSON(_, ctx, Type) {
        const map = Type ? new Type() : ctx?.mapAsMap ? new Map() : {};
        if (ctx?.onCreate)
            ctx.onCreate(map);
        for (const item of this.items)
            addPairToJSMap.addPairToJSMap(ctx, map, item);
        return map;
    }
    toString(ctx, onComment, onChompKeep) {
        if (!ctx)
            return JSON.stringify(this);
        for (const item of this.items) {
            if (!identity.isPair(item))
                throw new Error(`Map items must all be pairs; found ${JSON.stringify(item)} instead`);
        }
        if (!ctx.allNullValues && this.hasAllNullValues(false))
            ctx = Object.assign({}, ctx, { allNullValues: true });
        return stringifyCollection.stringifyCollection(this, ctx, {
            blockItemPrefix: '',
            flowChars: { start: '{', end: '}' },
            itemIndent: ctx.indent || '',
            onChompKeep,
            onComment
        });
    }
}

exports.YAMLMap = YAMLMap;
exports.findPair = findPair;


/***/ }),

/***/ 2223:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var createNode = __nccwpck_require__(2404);
var stringifyCollection = __nccwpck_require__(1212);
var Collection = __nccwpck_require__(101);
var identity = __nccwpck_require__(1127);
var Scalar = __nccwpck_require__(3301);
var toJS = __nccwpck_require__(4043);

class YAMLSeq extends Collection.Collection {
    static get tagName() {
        return 'tag:yaml.org,2002:seq';
    }
    constructor(schema) {
        super(identity.SEQ, schema);
        this.items = [];
    }
    add(value) {
        this.items.push(value);
    }
    /**
     * Removes a value from the collection.
     *
     * `key` must contain a representation of an integer for this to succeed.
     * It may be wrapped in a `Scalar`.
     *
     * @returns `true` if the item was found and removed.
     */
    delete(key) {
        const idx = asItemIndex(key);
        if (typeof idx !== 'number')
            return false;
        const del = this.items.splice(idx, 1);
        return del.length > 0;
    }
    get(key, keepScalar) {
        const idx = asItemIndex(key);
        if (typeof idx !== 'number')
            return undefined;
        const it = this.items[idx];
        return !keepScalar && identity.isScalar(it) ? it.value : it;
    }
    /**
     * Checks if the collection includes a value with the key `key`.
     *
     * `key` must contain a representation of an integer for this to succeed.
     * It may be wrapped in a `Scalar`.
     */
    has(key) {
        const idx = asItemIndex(key);
        return typeof idx === 'number' && idx < this.items.length;
    }
    /**
     * Sets a value in this collection. For `!!set`, `value` needs to be a
     * boolean to add/remove the item from the set.
     *
     * If `key` does not contain a representation of an integer, this will throw.
     * It may be wrapped in a `Scalar`.
     */
    set(key, value) {
        const idx = asItemIndex(key);
        if (typeof idx !== 'number')
            throw new Error(`Expected a valid index, not ${key}.`);
        const prev = this.items[idx];
        if (identity.isScalar(prev) && Scalar.isScalarValue(value))
            prev.value = value;
        else
            this.items[idx] = value;
    }
    toJSON(_, ctx) {
        const seq = [];
        if (ctx?.onCreate)
            ctx.onCreate(seq);
        let i = 0;
        for (const item of this.items)
            seq.push(toJS.toJS(item, String(i++), ctx));
        return seq;
    }
    toString(ctx, onComment, onChompKeep) {
        if (!ctx)
            return JSON.stringify(this);
        return stringifyCollection.stringifyCollection(this, ctx, {
            blockItemPrefix: '- ',
            flowChars: { start: '[', end: ']' },
            itemIndent: (ctx.indent || '') + '  ',
            onChompKeep,
            onComment
        });
    }
    static from(schema, obj, ctx) {
        const { replacer } = ctx;
        const seq = new this(schema);
        if (obj && Symbol.iterator in Object(obj)) {
            let i = 0;
            for (let it of obj) {
                if (typeof replacer === 'function') {
                    const key = obj instanceof Set ? it : String(i++);
                    it = replacer.call(obj, key, it);
                }
                seq.items.push(createNode.createNode(it, undefined, ctx));
            }
        }
        return seq;
    }
}
function asItemIndex(key) {
    let idx = identity.isScalar(key) ? key.value : key;
    if (idx && typeof idx === 'string')
        idx = Number(idx);
    return typeof idx === 'number' && Number.isInteger(idx) && idx >= 0
        ? idx
        : null;
}

exports.YAMLSeq = YAMLSeq;


/***/ }),

/***/ 7104:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var log = __nccwpck_require__(7249);
var merge = __nccwpck_require__(452);
var stringify = __nccwpck_require__(2148);
var identity = __nccwpck_require__(1127);
var toJS = __nccwpck_require__(4043);

function addPairToJSMap(ctx, map, { key, value }) {
    if (identity.isNode(key) && key.addToJSMap)
        key.addToJSMap(ctx, map, value);
    // TODO: Should drop this special case for bare << handling
    else if (merge.isMergeKey(ctx, key))
        merge.addMergeToJSMap(ctx, map, value);
    else {
        const jsKey = toJS.toJS(key, '', ctx);
        if (map instanceof Map) {
            map.set(jsKey, toJS.toJS(value, jsKey, ctx));
        }
        else if (map instanceof Set) {
            map.add(jsKey);
        }
        else {
            const stringKey = stringifyKey(key, jsKey, ctx);
            const jsValue = toJS.toJS(value, stringKey, ctx);
            if (stringKey in map)
                Object.defineProperty(map, stringKey, {
                    value: jsValue,
                    writable: true,
                    enumerable: true,
                    configurable: true
                });
            else
                map[stringKey] = jsValue;
        }
    }
    return map;
}
function stringifyKey(key, jsKey, ctx) {
    if (jsKey === null)
        return '';
    // eslint-disable-next-line @typescript-eslint/no-base-to-string
    if (typeof jsKey !== 'object')
        return String(jsKey);
    if (identity.isNode(key) && ctx?.doc) {
        const strCtx = stringify.createStringifyContext(ctx.doc, {});
        strCtx.anchors = new Set();
        for (const node of ctx.anchors.keys())
            strCtx.anchors.add(node.anchor);
        strCtx.inFlow = true;
        strCtx.inStringifyKey = true;
        const strKey = key.toString(strCtx);
        if (!ctx.mapKeyWarned) {
            let jsonStr = JSON.stringify(strKey);
            if (jsonStr.length > 40)
                jsonStr = jsonStr.substring(0, 36) + '..."';
            log.warn(ctx.doc.options.logLevel, `Keys with collection values will be stringified due to JS Object restrictions: ${jsonStr}. Set mapAsMap: true to use object keys.`);
            ctx.mapKeyWarned = true;
        }
        return strKey;
    }
    return JSON.stringify(jsKey);
}

exports.addPairToJSMap = addPairToJSMap;


/***/ }),

/***/ 1127:
/***/ ((__unused_webpack_module, exports) => {



const ALIAS = Symbol.for('yaml.alias');
const DOC = Symbol.for('yaml.document');
const MAP = Symbol.for('yaml.map');
const PAIR = Symbol.for('yaml.pair');
const SCALAR = Symbol.for('yaml.scalar');
const SEQ = Symbol.for('yaml.seq');
const NODE_TYPE = Symbol.for('yaml.node.type');
const isAlias = (node) => !!node && typeof node === 'object' && node[NODE_TYPE] === ALIAS;
const isDocument = (node) => !!node && typeof node === 'object' && node[NODE_TYPE] === DOC;
const isMap = (node) => !!node && typeof node === 'object' && node[NODE_TYPE] === MAP;
const isPair = (node) => !!node && typeof node === 'object' && node[NODE_TYPE] === PAIR;
const isScalar = (node) => !!node && typeof node === 'object' && node[NODE_TYPE] === SCALAR;
const isSeq = (node) => !!node && typeof node === 'object' && node[NODE_TYPE] === SEQ;
function isCollection(node) {
    if (node && typeof node === 'object')
        switch (node[NODE_TYPE]) {
            case MAP:
            case SEQ:
                return true;
        }
    return false;
}
function isNode(node) {
    if (node && typeof node === 'object')
        switch (node[NODE_TYPE]) {
            case ALIAS:
            case MAP:
            case SCALAR:
            case SEQ:
                return true;
        }
    return false;
}
const hasAnchor = (node) => (isScalar(node) || isCollection(node)) && !!node.anchor;

exports.ALIAS = ALIAS;
exports.DOC = DOC;
exports.MAP = MAP;
exports.NODE_TYPE = NODE_TYPE;
exports.PAIR = PAIR;
exports.SCALAR = SCALAR;
exports.SEQ = SEQ;
exports.hasAnchor = hasAnchor;
exports.isAlias = isAlias;
exports.isCollection = isCollection;
exports.isDocument = isDocument;
exports.isMap = isMap;
exports.isNode = isNode;
exports.isPair = isPair;
exports.isScalar = isScalar;
exports.isSeq = isSeq;


/***/ }),

/***/ 4043:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var identity = __nccwpck_require__(1127);

/**
 * Recursively convert any node or its contents to native JavaScript
 *
 * @param value - The input value
 * @param arg - If `value` defines a `toJSON()` method, use this
 *   as its first argument
 * @param ctx - Conversion context, originally set in Document#toJS(). If
 *   `{ keep: true }` is not set, output should be suitable for JSON
 *   stringification.
 */
function toJS(value, arg, ctx) {
    // eslint-disable-next-line @typescript-eslint/no-unsafe-return
    if (Array.isArray(value))
        return value.map((v, i) => toJS(v, String(i), ctx));
    if (value && typeof value.toJSON === 'function') {
        // eslint-disable-next-line @typescript-eslint/no-unsafe-call
        if (!ctx || !identity.hasAnchor(value))
            return value.toJSON(arg, ctx);
        const data = { aliasCount: 0, count: 1, res: undefined };
        ctx.anchors.set(value, data);
        ctx.onCreate = res => {
            data.res = res;
            delete ctx.onCreate;
        };
        const res = value.toJSON(arg, ctx);
        if (ctx.onCreate)
            ctx.onCreate(res);
        return res;
    }
    if (typeof value === 'bigint' && !ctx?.keep)
        return Number(value);
    return value;
}

exports.toJS = toJS;


/***/ }),

/***/ 110:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var resolveBlockScalar = __nccwpck_require__(8913);
var resolveFlowScalar = __nccwpck_require__(6842);
var errors = __nccwpck_require__(1464);
var stringifyString = __nccwpck_require__(3069);

function resolveAsScalar(token, strict = true, onError) {
    if (token) {
        const _onError = (pos, code, message) => {
            const offset = typeof pos === 'number' ? pos : Array.isArray(pos) ? pos[0] : pos.offset;
            if (onError)
                onError(offset, code, message);
            else
                throw new errors.YAMLParseError([offset, offset + 1], code, message);
        };
        switch (token.type) {
            case 'scalar':
            case 'single-quoted-scalar':
            case 'double-quoted-scalar':
                return resolveFlowScalar.resolveFlowScalar(token, strict, _onError);
            case 'block-scalar':
                return resolveBlockScalar.resolveBlockScalar({ options: { strict } }, token, _onError);
        }
    }
    return null;
}
/**
 * Create a new scalar token with `value`
 *
 * Values that represent an actual string but may be parsed as a different type should use a `type` other than `'PLAIN'`,
 * as this function does not support any schema operations and won't check for such conflicts.
 *
 * @param value The string representation of the value, which will have its content properly indented.
 * @param context.end Comments and whitespace after the end of the value, or after the block scalar header. If undefined, a newline will be added.
 * @param context.implicitKey Being within an implicit key may affect the resolved type of the token's value.
 * @param context.indent The indent level of the token.
 * @param context.inFlow Is this scalar within a flow collection? This may affect the resolved type of the token's value.
 * @param context.offset The offset position of the token.
 * @param context.type The preferred type of the scalar token. If undefined, the previous type of the `token` will be used, defaulting to `'PLAIN'`.
 */
function createScalarToken(value, context) {
    const { implicitKey = false, indent, inFlow = false, offset = -1, type = 'PLAIN' } = context;
    const source = stringifyString.stringifyString({ type, value }, {
        implicitKey,
        indent: indent > 0 ? ' '.repeat(indent) : '',
        inFlow,
        options: { blockQuote: true, lineWidth: -1 }
    });
    const end = context.end ?? [
        { type: 'newline', offset: -1, indent, source: '\n' }
    ];
    switch (source[0]) {
        case '|':
        case '>': {
            const he = source.indexOf('\n');
            const head = source.substring(0, he);
            const body = source.substring(he + 1) + '\n';
            const props = [
                { type: 'block-scalar-header', offset, indent, source: head }
            ];
            if (!addEndtoBlockProps(props, end))
                props.push({ type: 'newline', offset: -1, indent, source: '\n' });
            return { type: 'block-scalar', offset, indent, props, source: body };
        }
        case '"':
            return { type: 'double-quoted-scalar', offset, indent, source, end };
        case "'":
            return { type: 'single-quoted-scalar', offset, indent, source, end };
        default:
            return { type: 'scalar', offset, indent, source, end };
    }
}
/**
 * Set the value of `token` to the given string `value`, overwriting any previous contents and type that it may have.
 *
 * Best efforts are made to retain any comments previously associated with the `token`,
 * though all contents within a collection's `items` will be overwritten.
 *
 * Values that represent an actual string but may be parsed as a different type should use a `type` other than `'PLAIN'`,
 * as this function does not support any schema operations and won't check for such conflicts.
 *
 * @param token Any token. If it does not include an `indent` value, the value will be stringified as if it were an implicit key.
 * @param value The string representation of the value, which will have its content properly indented.
 * @param context.afterKey In most cases, values after a key should have an additional level of indentation.
 * @param context.implicitKey Being within an implicit key may affect the resolved type of the token's value.
 * @param context.inFlow Being within a flow collection may affect the resolved type of the token's value.
 * @param context.type The preferred type of the scalar token. If undefined, the previous type of the `token` will be used, defaulting to `'PLAIN'`.
 */
function setScalarValue(token, value, context = {}) {
    let { afterKey = false, implicitKey = false, inFlow = false, type } = context;
    let indent = 'indent' in token ? token.indent : null;
    if (afterKey && typeof indent === 'number')
        indent += 2;
    if (!type)
        switch (token.type) {
            case 'single-quoted-scalar':
                type = 'QUOTE_SINGLE';
                break;
            case 'double-quoted-scalar':
                type = 'QUOTE_DOUBLE';
                break;
            case 'block-scalar': {
                const header = token.props[0];
                if (header.type !== 'block-scalar-header')
                    throw new Error('Invalid block scalar header');
                type = header.source[0] === '>' ? 'BLOCK_FOLDED' : 'BLOCK_LITERAL';
                break;
            }
            default:
                type = 'PLAIN';
        }
    const source = stringifyString.stringifyString({ type, value }, {
        implicitKey: implicitKey || indent === null,
        indent: indent !== null && indent > 0 ? ' '.repeat(indent) : '',
        inFlow,
        options: { blockQuote: true, lineWidth: -1 }
    });
    switch (source[0]) {
        case '|':
        case '>':
            setBlockScalarValue(token, source);
            break;
        case '"':
            setFlowScalarValue(token, source, 'double-quoted-scalar');
            break;
        case "'":
            setFlowScalarValue(token, source, 'single-quoted-scalar');
            break;
        default:
            setFlowScalarValue(token, source, 'scalar');
    }
}
function setBlockScalarValue(token, source) {
    const he = source.indexOf('\n');
    const head = source.substring(0, he);
    const body = source.substring(he + 1) + '\n';
    if (token.type === 'block-scalar') {
        const header = token.props[0];
        if (header.type !== 'block-scalar-header')
            throw new Error('Invalid block scalar header');
        header.source = head;
        token.source = body;
    }
    else {
        const { offset } = token;
        const indent = 'indent' in token ? token.indent : -1;
        const props = [
            { type: 'block-scalar-header', offset, indent, source: head }
        ];
        if (!addEndtoBlockProps(props, 'end' in token ? token.end : undefined))
            props.push({ type: 'newline', offset: -1, indent, source: '\n' });
        for (const key of Object.keys(token))
            if (key !== 'type' && key !== 'offset')
                delete token[key];
        Object.assign(token, { type: 'block-scalar', indent, props, source: body });
    }
}
/** @returns `true` if last token is a newline */
function addEndtoBlockProps(props, end) {
    if (end)
        for (const st of end)
            switch (st.type) {
                case 'space':
                case 'comment':
                    props.push(st);
                    break;
                case 'newline':
                    props.push(st);
                    return true;
            }
    return false;
}
function setFlowScalarValue(token, source, type) {
    switch (token.type) {
        case 'scalar':
        case 'double-quoted-scalar':
        case 'single-quoted-scalar':
            token.type = type;
            token.source = source;
            break;
        case 'block-scalar': {
            const end = token.props.slice(1);
            let oa = source.length;
            if (token.props[0].type === 'block-scalar-header')
                oa -= token.props[0].source.length;
            for (const tok of end)
                tok.offset += oa;
            delete token.props;
            Object.assign(token, { type, source, end });
            break;
        }
        case 'block-map':
        case 'block-seq': {
            const offset = token.offset + source.length;
            const nl = { type: 'newline', offset, indent: token.indent, source: '\n' };
            delete token.items;
            Object.assign(token, { type, source, end: [nl] });
            break;
        }
        default: {
            const indent = 'indent' in token ? token.indent : -1;
            const end = 'end' in token && Array.isArray(token.end)
                ? token.end.filter(st => st.type === 'space' ||
                    st.type === 'comment' ||
                    st.type === 'newline')
                : [];
            for (const key of Object.keys(token))
                if (key !== 'type' && key !== 'offset')
                    delete token[key];
            Object.assign(token, { type, indent, source, end });
        }
    }
}

exports.createScalarToken = createScalarToken;
exports.resolveAsScalar = resolveAsScalar;
exports.setScalarValue = setScalarValue;


/***/ }),

/***/ 1733:
/***/ ((__unused_webpack_module, exports) => {



/**
 * Stringify a CST document, token, or collection item
 *
 * Fair warning: This applies no validation whatsoever, and
 * simply concatenates the sources in their logical order.
 */
const stringify = (cst) => 'type' in cst ? stringifyToken(cst) : stringifyItem(cst);
function stringifyToken(token) {
    switch (token.type) {
        case 'block-scalar': {
            let res = '';
            for (const tok of token.props)
                res += stringifyToken(tok);
            return res + token.source;
        }
        case 'block-map':
        case 'block-seq': {
            let res = '';
            for (const item of token.items)
                res += stringifyItem(item);
            return res;
        }
        case 'flow-collection': {
            let res = token.start.source;
            for (const item of token.items)
                res += stringifyItem(item);
            for (const st of token.end)
                res += st.source;
            return res;
        }
        case 'document': {
            let res = stringifyItem(token);
            if (token.end)
                for (const st of token.end)
                    res += st.source;
            return res;
        }
        default: {
            let res = token.source;
            if ('end' in token && token.end)
                for (const st of token.end)
                    res += st.source;
            return res;
        }
    }
}
function stringifyItem({ start, key, sep, value }) {
    let res = '';
    for (const st of start)
        res += st.source;
    if (key)
        res += stringifyToken(key);
    if (sep)
        for (const st of sep)
            res += st.source;
    if (value)
        res += stringifyToken(value);
    return res;
}

exports.stringify = stringify;


/***/ }),

/***/ 7715:
/***/ ((__unused_webpack_module, exports) => {



const BREAK = Symbol('break visit');
const SKIP = Symbol('skip children');
const REMOVE = Symbol('remove item');
/**
 * Apply a visitor to a CST document or item.
 *
 * Walks through the tree (depth-first) starting from the root, calling a
 * `visitor` function with two arguments when entering each item:
 *   - `item`: The current item, which included the following members:
 *     - `start: SourceToken[]` – Source tokens before the key or value,
 *       possibly including its anchor or tag.
 *     - `key?: Token | null` – Set for pair values. May then be `null`, if
 *       the key before the `:` separator is empty.
 *     - `sep?: SourceToken[]` – Source tokens between the key and the value,
 *       which should include the `:` map value indicator if `value` is set.
 *     - `value?: Token` – The value of a sequence item, or of a map pair.
 *   - `path`: The steps from the root to the current node, as an array of
 *     `['key' | 'value', number]` tuples.
 *
 * The return value of the visitor may be used to control the traversal:
 *   - `undefined` (default): Do nothing and continue
 *   - `visit.SKIP`: Do not visit the children of this token, continue with
 *      next sibling
 *   - `visit.BREAK`: Terminate traversal completely
 *   - `visit.REMOVE`: Remove the current item, then continue with the next one
 *   - `number`: Set the index of the next step. This is useful especially if
 *     the index of the current token has changed.
 *   - `function`: Define the next visitor for this item. After the original
 *     visitor is called on item entry, next visitors are called after handling
 *     a non-empty `key` and when exiting the item.
 */
function visit(cst, visitor) {
    if ('type' in cst && cst.type === 'document')
        cst = { start: cst.start, value: cst.value };
    _visit(Object.freeze([]), cst, visitor);
}
// Without the `as symbol` casts, TS declares these in the `visit`
// namespace using `var`, but then complains about that because
// `unique symbol` must be `const`.
/** Terminate visit traversal completely */
visit.BREAK = BREAK;
/** Do not visit the children of the current item */
visit.SKIP = SKIP;
/** Remove the current item */
visit.REMOVE = REMOVE;
/** Find the item at `path` from `cst` as the root */
visit.itemAtPath = (cst, path) => {
    let item = cst;
    for (const [field, index] of path) {
        const tok = item?.[field];
        if (tok && 'items' in tok) {
            item = tok.items[index];
        }
        else
            return undefined;
    }
    return item;
};
/**
 * Get the immediate parent collection of the item at `path` from `cst` as the root.
 *
 * Throws an error if the collection is not found, which should never happen if the item itself exists.
 */
visit.parentCollection = (cst, path) => {
    const parent = visit.itemAtPath(cst, path.slice(0, -1));
    const field = path[path.length - 1][0];
    const coll = parent?.[field];
    if (coll && 'items' in coll)
        return coll;
    throw new Error('Parent collection not found');
};
function _visit(path, item, visitor) {
    let ctrl = visitor(item, path);
    if (typeof ctrl === 'symbol')
        return ctrl;
    for (const field of ['key', 'value']) {
        const token = item[field];
        if (token && 'items' in token) {
            for (let i = 0; i < token.items.length; ++i) {
                const ci = _visit(Object.freeze(path.concat([[field, i]])), token.items[i], visitor);
                if (typeof ci === 'number')
                    i = ci - 1;
                else if (ci === BREAK)
                    return BREAK;
                else if (ci === REMOVE) {
                    token.items.splice(i, 1);
                    i -= 1;
                }
            }
            if (typeof ctrl === 'function' && field === 'key')
                ctrl = ctrl(item, path);
        }
    }
    return typeof ctrl === 'function' ? ctrl(item, path) : ctrl;
}

exports.visit = visit;


/***/ }),

/***/ 3461:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var cstScalar = __nccwpck_require__(110);
var cstStringify = __nccwpck_require__(1733);
var cstVisit = __nccwpck_require__(7715);

/** The byte order mark */
const BOM = '\u{FEFF}';
/** Start of doc-mode */
const DOCUMENT = '\x02'; // C0: Start of Text
/** Unexpected end of flow-mode */
const FLOW_END = '\x18'; // C0: Cancel
/** Next token is a scalar value */
const SCALAR = '\x1f'; // C0: Unit Separator
/** @returns `true` if `token` is a flow or block collection */
const isCollection = (token) => !!token && 'items' in token;
/** @returns `true` if `token` is a flow or block scalar; not an alias */
const isScalar = (token) => !!token &&
    (token.type === 'scalar' ||
        token.type === 'single-quoted-scalar' ||
        token.type === 'double-quoted-scalar' ||
        token.type === 'block-scalar');
/* istanbul ignore next */
/** Get a printable representation of a lexer token */
function prettyToken(token) {
    switch (token) {
        case BOM:
            return '<BOM>';
        case DOCUMENT:
            return '<DOC>';
        case FLOW_END:
            return '<FLOW_END>';
        case SCALAR:
            return '<SCALAR>';
        default:
            return JSON.stringify(token);
    }
}
/** Identify the type of a lexer token. May return `null` for unknown tokens. */
function tokenType(source) {
    switch (source) {
        case BOM:
            return 'byte-order-mark';
        case DOCUMENT:
            return 'doc-mode';
        case FLOW_END:
            return 'flow-error-end';
        case SCALAR:
            return 'scalar';
        case '---':
            return 'doc-start';
        case '...':
            return 'doc-end';
        case '':
        case '\n':
        case '\r\n':
            return 'newline';
        case '-':
            return 'seq-item-ind';
        case '?':
            return 'explicit-key-ind';
        case ':':
            return 'map-value-ind';
        case '{':
            return 'flow-map-start';
        case '}':
            return 'flow-map-end';
        case '[':
            return 'flow-seq-start';
        case ']':
            return 'flow-seq-end';
        case ',':
            return 'comma';
    }
    switch (source[0]) {
        case ' ':
        case '\t':
            return 'space';
        case '#':
            return 'comment';
        case '%':
            return 'directive-line';
        case '*':
            return 'alias';
        case '&':
            return 'anchor';
        case '!':
            return 'tag';
        case "'":
            return 'single-quoted-scalar';
        case '"':
            return 'double-quoted-scalar';
        case '|':
        case '>':
            return 'block-scalar-header';
    }
    return null;
}

exports.createScalarToken = cstScalar.createScalarToken;
exports.resolveAsScalar = cstScalar.resolveAsScalar;
exports.setScalarValue = cstScalar.setScalarValue;
exports.stringify = cstStringify.stringify;
exports.visit = cstVisit.visit;
exports.BOM = BOM;
exports.DOCUMENT = DOCUMENT;
exports.FLOW_END = FLOW_END;
exports.SCALAR = SCALAR;
exports.isCollection = isCollection;
exports.isScalar = isScalar;
exports.prettyToken = prettyToken;
exports.tokenType = tokenType;


/***/ }),

/***/ 361:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var cst = __nccwpck_require__(3461);

/*
START -> stream

stream
  directive -> line-end -> stream
  indent + line-end -> stream
  [else] -> line-start

line-end
  comment -> line-end
  newline -> .
  input-end -> END

line-start
  doc-start -> doc
  doc-end -> stream
  [else] -> indent -> block-start

block-start
  seq-item-start -> block-start
  explicit-key-start -> block-start
  map-value-start -> block-start
  [else] -> doc

doc
  line-end -> line-start
  spaces -> doc
  anchor -> doc
  tag -> doc
  flow-start -> flow -> doc
  flow-end -> error -> doc
  seq-item-start -> error -> doc
  explicit-key-start -> error -> doc
  map-value-start -> doc
  alias -> doc
  quote-start -> quoted-scalar -> doc
  block-scalar-header -> line-end -> block-scalar(min) -> line-start
  [else] -> plain-scalar(false, min) -> doc

flow
  line-end -> flow
  spaces -> flow
  anchor -> flow
  tag -> flow
  flow-start -> flow -> flow
  flow-end -> .
  seq-item-start -> error -> flow
  explicit-key-start -> flow
  map-value-start -> flow
  alias -> flow
  quote-start -> quoted-scalar -> flow
  comma -> flow
  [else] -> plain-scalar(true, 0) -> flow

quoted-scalar
  quote-end -> .
  [else] -> quoted-scalar

block-scalar(min)
  newline + peek(indent < min) -> .
  [else] -> block-scalar(min)

plain-scalar(is-flow, min)
  scalar-end(is-flow) -> .
  peek(newline + (indent < min)) -> .
  [else] -> plain-scalar(min)
*/
function isEmpty(ch) {
    switch (ch) {
        case undefined:
        case ' ':
        case '\n':
        case '\r':
        case '\t':
            return true;
        default:
            return false;
    }
}
const hexDigits = new Set('0123456789ABCDEFabcdef');
const tagChars = new Set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-#;/?:@&=+$_.!~*'()");
const flowIndicatorChars = new Set(',[]{}');
const invalidAnchorChars = new Set(' ,[]{}\n\r\t');
const isNotAnchorChar = (ch) => !ch || invalidAnchorChars.has(ch);
/**
 * Splits an input string into lexical tokens, i.e. smaller strings that are
 * easily identifiable by `tokens.tokenType()`.
 *
 * Lexing starts always in a "stream" context. Incomplete input may be buffered
 * until a complete token can be emitted.
 *
 * In addition to slices of the original input, the following control characters
 * may also be emitted:
 *
 * - `\x02` (Start of Text): A document starts with the next token
 * - `\x18` (Cancel): Unexpected end of flow-mode (indicates an error)
 * - `\x1f` (Unit Separator): Next token is a scalar value
 * - `\u{FEFF}` (Byte order mark): Emitted separately outside documents
 */
class Lexer {
    constructor() {
        /**
         * Flag indicating whether the end of the current buffer marks the end of
         * all input
         */
        this.atEnd = false;
        /**
         * Explicit indent set in block scalar header, as an offset from the current
         * minimum indent, so e.g. set to 1 from a header `|2+`. Set to -1 if not
         * explicitly set.
         */
        this.blockScalarIndent = -1;
        /**
         * Block scalars that include a + (keep) chomping indicator in their header
         * include trailing empty lines, which are otherwise excluded from the
         * scalar's contents.
         */
        this.blockScalarKeep = false;
        /** Current input */
        this.buffer = '';
        /**
         * Flag noting whether the map value indicator : can immediately follow this
         * node within a flow context.
         */
        this.flowKey = false;
        /** Count of surrounding flow collection levels. */
        this.flowLevel = 0;
        /**
         * Minimum level of indentation required for next lines to be parsed as a
         * part of the current scalar value.
         */
        this.indentNext = 0;
        /** Indentation level of the current line. */
        this.indentValue = 0;
        /** Position of the next \n character. */
        this.lineEndPos = null;
        /** Stores the state of the lexer if reaching the end of incpomplete input */
        this.next = null;
        /** A pointer to `buffer`; the current position of the lexer. */
        this.pos = 0;
    }
    /**
     * Generate YAML tokens from the `source` string. If `incomplete`,
     * a part of the last line may be left as a buffer for the next call.
     *
     * @returns A generator of lexical tokens
     */
    *lex(source, incomplete = false) {
        if (source) {
            if (typeof source !== 'string')
                throw TypeError('source is not a string');
            this.buffer = this.buffer ? this.buffer + source : source;
            this.lineEndPos = null;
        }
        this.atEnd = !incomplete;
        let next = this.next ?? 'stream';
        while (next && (incomplete || this.hasChars(1)))
            next = yield* this.parseNext(next);
    }
    atLineEnd() {
        let i = this.pos;
        let ch = this.buffer[i];
        while (ch === ' ' || ch === '\t')
            ch = this.buffer[++i];
        if (!ch || ch === '#' || ch === '\n')
            return true;
        if (ch === '\r')
            return this.buffer[i + 1] === '\n';
        return false;
    }
    charAt(n) {
        return this.buffer[this.pos + n];
    }
    continueScalar(offset) {
        let ch = this.buffer[offset];
        if (this.indentNext > 0) {
            let indent = 0;
            while (ch === ' ')
                ch = this.buffer[++indent + offset];
            if (ch === '\r') {
                const next = this.buffer[indent + offset + 1];
                if (next === '\n' || (!next && !this.atEnd))
                    return offset + indent + 1;
            }
            return ch === '\n' || indent >= this.indentNext || (!ch && !this.atEnd)
                ? offset + indent
                : -1;
        }
        if (ch === '-' || ch === '.') {
            const dt = this.buffer.substr(offset, 3);
            if ((dt === '---' || dt === '...') && isEmpty(this.buffer[offset + 3]))
                return -1;
        }
        return offset;
    }
    getLine() {
        let end = this.lineEndPos;
        if (typeof end !== 'number' || (end !== -1 && end < this.pos)) {
            end = this.buffer.indexOf('\n', this.pos);
            this.lineEndPos = end;
        }
        if (end === -1)
            return this.atEnd ? this.buffer.substring(this.pos) : null;
        if (this.buffer[end - 1] === '\r')
            end -= 1;
        return this.buffer.substring(this.pos, end);
    }
    hasChars(n) {
        return this.pos + n <= this.buffer.length;
    }
    setNext(state) {
        this.buffer = this.buffer.substring(this.pos);
        this.pos = 0;
        this.lineEndPos = null;
        this.next = state;
        return null;
    }
    peek(n) {
        return this.buffer.substr(this.pos, n);
    }
    *parseNext(next) {
        switch (next) {
            case 'stream':
                return yield* this.parseStream();
            case 'line-start':
                return yield* this.parseLineStart();
            case 'block-start':
                return yield* this.parseBlockStart();
            case 'doc':
                return yield* this.parseDocument();
            case 'flow':
                return yield* this.parseFlowCollection();
            case 'quoted-scalar':
                return yield* this.parseQuotedScalar();
            case 'block-scalar':
                return yield* this.parseBlockScalar();
            case 'plain-scalar':
                return yield* this.parsePlainScalar();
        }
    }
    *parseStream() {
        let line = this.getLine();
        if (line === null)
            return this.setNext('stream');
        if (line[0] === cst.BOM) {
            yield* this.pushCount(1);
            line = line.substring(1);
        }
        if (line[0] === '%') {
            let dirEnd = line.length;
            let cs = line.indexOf('#');
            while (cs !== -1) {
                const ch = line[cs - 1];
                if (ch === ' ' || ch === '\t') {
                    dirEnd = cs - 1;
                    break;
                }
                else {
                    cs = line.indexOf('#', cs + 1);
                }
            }
            while (true) {
                const ch = line[dirEnd - 1];
                if (ch === ' ' || ch === '\t')
                    dirEnd -= 1;
                else
                    break;
            }
            const n = (yield* this.pushCount(dirEnd)) + (yield* this.pushSpaces(true));
            yield* this.pushCount(line.length - n); // possible comment
            this.pushNewline();
            return 'stream';
        }
        if (this.atLineEnd()) {
            const sp = yield* this.pushSpaces(true);
            yield* this.pushCount(line.length - sp);
            yield* this.pushNewline();
            return 'stream';
        }
        yield cst.DOCUMENT;
        return yield* this.parseLineStart();
    }
    *parseLineStart() {
        const ch = this.charAt(0);
        if (!ch && !this.atEnd)
            return this.setNext('line-start');
        if (ch === '-' || ch === '.') {
            if (!this.atEnd && !this.hasChars(4))
                return this.setNext('line-start');
            const s = this.peek(3);
            if ((s === '---' || s === '...') && isEmpty(this.charAt(3))) {
                yield* this.pushCount(3);
                this.indentValue = 0;
                this.indentNext = 0;
                return s === '---' ? 'doc' : 'stream';
            }
        }
        this.indentValue = yield* this.pushSpaces(false);
        if (this.indentNext > this.indentValue && !isEmpty(this.charAt(1)))
            this.indentNext = this.indentValue;
        return yield* this.parseBlockStart();
    }
    *parseBlockStart() {
        const [ch0, ch1] = this.peek(2);
        if (!ch1 && !this.atEnd)
            return this.setNext('block-start');
        if ((ch0 === '-' || ch0 === '?' || ch0 === ':') && isEmpty(ch1)) {
            const n = (yield* this.pushCount(1)) + (yield* this.pushSpaces(true));
            this.indentNext = this.indentValue + 1;
            this.indentValue += n;
            return 'block-start';
        }
        return 'doc';
    }
    *parseDocument() {
        yield* this.pushSpaces(true);
        const line = this.getLine();
        if (line === null)
            return this.setNext('doc');
        let n = yield* this.pushIndicators();
        switch (line[n]) {
            case '#':
                yield* this.pushCount(line.length - n);
            // fallthrough
            case undefined:
                yield* this.pushNewline();
                return yield* this.parseLineStart();
            case '{':
            case '[':
                yield* this.pushCount(1);
                this.flowKey = false;
                this.flowLevel = 1;
                return 'flow';
            case '}':
            case ']':
                // this is an error
                yield* this.pushCount(1);
                return 'doc';
            case '*':
                yield* this.pushUntil(isNotAnchorChar);
                return 'doc';
            case '"':
            case "'":
                return yield* this.parseQuotedScalar();
            case '|':
            case '>':
                n += yield* this.parseBlockScalarHeader();
                n += yield* this.pushSpaces(true);
                yield* this.pushCount(line.length - n);
                yield* this.pushNewline();
                return yield* this.parseBlockScalar();
            default:
                return yield* this.parsePlainScalar();
        }
    }
    *parseFlowCollection() {
        let nl, sp;
        let indent = -1;
        do {
            nl = yield* this.pushNewline();
            if (nl > 0) {
                sp = yield* this.pushSpaces(false);
                this.indentValue = indent = sp;
            }
            else {
                sp = 0;
            }
            sp += yield* this.pushSpaces(true);
        } while (nl + sp > 0);
        const line = this.getLine();
        if (line === null)
            return this.setNext('flow');
        if ((indent !== -1 && indent < this.indentNext && line[0] !== '#') ||
            (indent === 0 &&
                (line.startsWith('---') || line.startsWith('...')) &&
                isEmpty(line[3]))) {
            // Allowing for the terminal ] or } at the same (rather than greater)
            // indent level as the initial [ or { is technically invalid, but
            // failing here would be surprising to users.
            const atFlowEndMarker = indent === this.indentNext - 1 &&
                this.flowLevel === 1 &&
                (line[0] === ']' || line[0] === '}');
            if (!atFlowEndMarker) {
                // this is an error
                this.flowLevel = 0;
                yield cst.FLOW_END;
                return yield* this.parseLineStart();
            }
        }
        let n = 0;
        while (line[n] === ',') {
            n += yield* this.pushCount(1);
            n += yield* this.pushSpaces(true);
            this.flowKey = false;
        }
        n += yield* this.pushIndicators();
        switch (line[n]) {
            case undefined:
                return 'flow';
            case '#':
                yield* this.pushCount(line.length - n);
                return 'flow';
            case '{':
            case '[':
                yield* this.pushCount(1);
                this.flowKey = false;
                this.flowLevel += 1;
                return 'flow';
            case '}':
            case ']':
                yield* this.pushCount(1);
                this.flowKey = true;
                this.flowLevel -= 1;
                return this.flowLevel ? 'flow' : 'doc';
            case '*':
                yield* this.pushUntil(isNotAnchorChar);
                return 'flow';
            case '"':
            case "'":
                this.flowKey = true;
                return yield* this.parseQuotedScalar();
            case ':': {
                const next = this.charAt(1);
                if (this.flowKey || isEmpty(next) || next === ',') {
                    this.flowKey = false;
                    yield* this.pushCount(1);
                    yield* this.pushSpaces(true);
                    return 'flow';
                }
            }
            // fallthrough
            default:
                this.flowKey = false;
                return yield* this.parsePlainScalar();
        }
    }
    *parseQuotedScalar() {
        const quote = this.charAt(0);
        let end = this.buffer.indexOf(quote, this.pos + 1);
        if (quote === "'") {
            while (end !== -1 && this.buffer[end + 1] === "'")
                end = this.buffer.indexOf("'", end + 2);
        }
        else {
            // double-quote
            while (end !== -1) {
                let n = 0;
                while (this.buffer[end - 1 - n] === '\\')
                    n += 1;
                if (n % 2 === 0)
                    break;
                end = this.buffer.indexOf('"', end + 1);
            }
        }
        // Only looking for newlines within the quotes
        const qb = this.buffer.substring(0, end);
        let nl = qb.indexOf('\n', this.pos);
        if (nl !== -1) {
            while (nl !== -1) {
                const cs = this.continueScalar(nl + 1);
                if (cs === -1)
                    break;
                nl = qb.indexOf('\n', cs);
            }
            if (nl !== -1) {
                // this is an error caused by an unexpected unindent
                end = nl - (qb[nl - 1] === '\r' ? 2 : 1);
            }
        }
        if (end === -1) {
            if (!this.atEnd)
                return this.setNext('quoted-scalar');
            end = this.buffer.length;
        }
        yield* this.pushToIndex(end + 1, false);
        return this.flowLevel ? 'flow' : 'doc';
    }
    *parseBlockScalarHeader() {
        this.blockScalarIndent = -1;
        this.blockScalarKeep = false;
        let i = this.pos;
        while (true) {
            const ch = this.buffer[++i];
            if (ch === '+')
                this.blockScalarKeep = true;
            else if (ch > '0' && ch <= '9')
                this.blockScalarIndent = Number(ch) - 1;
            else if (ch !== '-')
                break;
        }
        return yield* this.pushUntil(ch => isEmpty(ch) || ch === '#');
    }
    *parseBlockScalar() {
        let nl = this.pos - 1; // may be -1 if this.pos === 0
        let indent = 0;
        let ch;
        loop: for (let i = this.pos; (ch = this.buffer[i]); ++i) {
            switch (ch) {
                case ' ':
                    indent += 1;
                    break;
                case '\n':
                    nl = i;
                    indent = 0;
                    break;
                case '\r': {
                    const next = this.buffer[i + 1];
                    if (!next && !this.atEnd)
                        return this.setNext('block-scalar');
                    if (next === '\n')
                        break;
                } // fallthrough
                default:
                    break loop;
            }
        }
        if (!ch && !this.atEnd)
            return this.setNext('block-scalar');
        if (indent >= this.indentNext) {
            if (this.blockScalarIndent === -1)
                this.indentNext = indent;
            else {
                this.indentNext =
                    this.blockScalarIndent + (this.indentNext === 0 ? 1 : this.indentNext);
            }
            do {
                const cs = this.continueScalar(nl + 1);
                if (cs === -1)
                    break;
                nl = this.buffer.indexOf('\n', cs);
            } while (nl !== -1);
            if (nl === -1) {
                if (!this.atEnd)
                    return this.setNext('block-scalar');
                nl = this.buffer.length;
            }
        }
        // Trailing insufficiently indented tabs are invalid.
        // To catch that during parsing, we include them in the block scalar value.
        let i = nl + 1;
        ch = this.buffer[i];
        while (ch === ' ')
            ch = this.buffer[++i];
        if (ch === '\t') {
            while (ch === '\t' || ch === ' ' || ch === '\r' || ch === '\n')
                ch = this.buffer[++i];
            nl = i - 1;
        }
        else if (!this.blockScalarKeep) {
            do {
                let i = nl - 1;
                let ch = this.buffer[i];
                if (ch === '\r')
                    ch = this.buffer[--i];
                const lastChar = i; // Drop the line if last char not more indented
                while (ch === ' ')
                    ch = this.buffer[--i];
                if (ch === '\n' && i >= this.pos && i + 1 + indent > lastChar)
                    nl = i;
                else
                    break;
            } while (true);
        }
        yield cst.SCALAR;
        yield* this.pushToIndex(nl + 1, true);
        return yield* this.parseLineStart();
    }
    *parsePlainScalar() {
        const inFlow = this.flowLevel > 0;
        let end = this.pos - 1;
        let i = this.pos - 1;
        let ch;
        while ((ch = this.buffer[++i])) {
            if (ch === ':') {
                const next = this.buffer[i + 1];
                if (isEmpty(next) || (inFlow && flowIndicatorChars.has(next)))
                    break;
                end = i;
            }
            else if (isEmpty(ch)) {
                let next = this.buffer[i + 1];
                if (ch === '\r') {
                    if (next === '\n') {
                        i += 1;
                        ch = '\n';
                        next = this.buffer[i + 1];
                    }
                    else
                        end = i;
                }
                if (next === '#' || (inFlow && flowIndicatorChars.has(next)))
                    break;
                if (ch === '\n') {
                    const cs = this.continueScalar(i + 1);
                    if (cs === -1)
                        break;
                    i = Math.max(i, cs - 2); // to advance, but still account for ' #'
                }
            }
            else {
                if (inFlow && flowIndicatorChars.has(ch))
                    break;
                end = i;
            }
        }
        if (!ch && !this.atEnd)
            return this.setNext('plain-scalar');
        yield cst.SCALAR;
        yield* this.pushToIndex(end + 1, true);
        return inFlow ? 'flow' : 'doc';
    }
    *pushCount(n) {
        if (n > 0) {
            yield this.buffer.substr(this.pos, n);
            this.pos += n;
            return n;
        }
        return 0;
    }
    *pushToIndex(i, allowEmpty) {
        const s = this.buffer.slice(this.pos, i);
        if (s) {
            yield s;
            this.pos += s.length;
            return s.length;
        }
        else if (allowEmpty)
            yield '';
        return 0;
    }
    *pushIndicators() {
        let n = 0;
        loop: while (true) {
            switch (this.charAt(0)) {
                case '!':
                    n += yield* this.pushTag();
                    n += yield* this.pushSpaces(true);
                    continue loop;
                case '&':
                    n += yield* this.pushUntil(isNotAnchorChar);
                    n += yield* this.pushSpaces(true);
                    continue loop;
                case '-': // this is an error
                case '?': // this is an error outside flow collections
                case ':': {
                    const inFlow = this.flowLevel > 0;
                    const ch1 = this.charAt(1);
                    if (isEmpty(ch1) || (inFlow && flowIndicatorChars.has(ch1))) {
                        if (!inFlow)
                            this.indentNext = this.indentValue + 1;
                        else if (this.flowKey)
                            this.flowKey = false;
                        n += yield* this.pushCount(1);
                        n += yield* this.pushSpaces(true);
                        continue loop;
                    }
                }
            }
            break loop;
        }
        return n;
    }
    *pushTag() {
        if (this.charAt(1) === '<') {
            let i = this.pos + 2;
            let ch = this.buffer[i];
            while (!isEmpty(ch) && ch !== '>')
                ch = this.buffer[++i];
            return yield* this.pushToIndex(ch === '>' ? i + 1 : i, false);
        }
        else {
            let i = this.pos + 1;
            let ch = this.buffer[i];
            while (ch) {
                if (tagChars.has(ch))
                    ch = this.buffer[++i];
                else if (ch === '%' &&
                    hexDigits.has(this.buffer[i + 1]) &&
                    hexDigits.has(this.buffer[i + 2])) {
                    ch = this.buffer[(i += 3)];
                }
                else
                    break;
            }
            return yield* this.pushToIndex(i, false);
        }
    }
    *pushNewline() {
        const ch = this.buffer[this.pos];
        if (ch === '\n')
            return yield* this.pushCount(1);
        else if (ch === '\r' && this.charAt(1) === '\n')
            return yield* this.pushCount(2);
        else
            return 0;
    }
    *pushSpaces(allowTabs) {
        let i = this.pos - 1;
        let ch;
        do {
            ch = this.buffer[++i];
        } while (ch === ' ' || (allowTabs && ch === '\t'));
        const n = i - this.pos;
        if (n > 0) {
            yield this.buffer.substr(this.pos, n);
            this.pos = i;
        }
        return n;
    }
    *pushUntil(test) {
        let i = this.pos;
        let ch = this.buffer[i];
        while (!test(ch))
            ch = this.buffer[++i];
        return yield* this.pushToIndex(i, false);
    }
}

exports.Lexer = Lexer;


/***/ }),

/***/ 6628:
/***/ ((__unused_webpack_module, exports) => {



/**
 * Tracks newlines during parsing in order to provide an efficient API for
 * determining the one-indexed `{ line, col }` position for any offset
 * within the input.
 */
class LineCounter {
    constructor() {
        this.lineStarts = [];
        /**
         * Should be called in ascending order. Otherwise, call
         * `lineCounter.lineStarts.sort()` before calling `linePos()`.
         */
        this.addNewLine = (offset) => this.lineStarts.push(offset);
        /**
         * Performs a binary search and returns the 1-indexed { line, col }
         * position of `offset`. If `line === 0`, `addNewLine` has never been
         * called or `offset` is before the first known newline.
         */
        this.linePos = (offset) => {
            let low = 0;
            let high = this.lineStarts.length;
            while (low < high) {
                const mid = (low + high) >> 1; // Math.floor((low + high) / 2)
                if (this.lineStarts[mid] < offset)
                    low = mid + 1;
                else
                    high = mid;
            }
            if (this.lineStarts[low] === offset)
                return { line: low + 1, col: 1 };
            if (low === 0)
                return { line: 0, col: offset };
            const start = this.lineStarts[low - 1];
            return { line: low, col: offset - start + 1 };
        };
    }
}

exports.LineCounter = LineCounter;


/***/ }),

/***/ 3456:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var node_process = __nccwpck_require__(932);
var cst = __nccwpck_require__(3461);
var lexer = __nccwpck_require__(361);

function includesToken(list, type) {
    for (let i = 0; i < list.length; ++i)
        if (list[i].type === type)
            return true;
    return false;
}
function findNonEmptyIndex(list) {
    for (let i = 0; i < list.length; ++i) {
        switch (list[i].type) {
            case 'space':
            case 'comment':
            case 'newline':
                break;
            default:
                return i;
        }
    }
    return -1;
}
function isFlowToken(token) {
    switch (token?.type) {
        case 'alias':
        case 'scalar':
        case 'single-quoted-scalar':
        case 'double-quoted-scalar':
        case 'flow-collection':
            return true;
        default:
            return false;
    }
}
function getPrevProps(parent) {
    switch (parent.type) {
        case 'document':
            return parent.start;
        case 'block-map': {
            const it = parent.items[parent.items.length - 1];
            return it.sep ?? it.start;
        }
        case 'block-seq':
            return parent.items[parent.items.length - 1].start;
        /* istanbul ignore next should not happen */
        default:
            return [];
    }
}
/** Note: May modify input array */
function getFirstKeyStartProps(prev) {
    if (prev.length === 0)
        return [];
    let i = prev.length;
    loop: while (--i >= 0) {
        switch (prev[i].type) {
            case 'doc-start':
            case 'explicit-key-ind':
            case 'map-value-ind':
            case 'seq-item-ind':
            case 'newline':
                break loop;
        }
    }
    while (prev[++i]?.type === 'space') {
        /* loop */
    }
    return prev.splice(i, prev.length);
}
function arrayPushArray(target, source) {
    // May exhaust call stack with large `source` array
    if (source.length < 1e5)
        Array.prototype.push.apply(target, source);
    else
        for (let i = 0; i < source.length; ++i)
            target.push(source[i]);
}
function fixFlowSeqItems(fc) {
    if (fc.start.type === 'flow-seq-start') {
        for (const it of fc.items) {
            if (it.sep &&
                !it.value &&
                !includesToken(it.start, 'explicit-key-ind') &&
                !includesToken(it.sep, 'map-value-ind')) {
                if (it.key)
                    it.value = it.key;
                delete it.key;
                if (isFlowToken(it.value)) {
                    if (it.value.end)
                        arrayPushArray(it.value.end, it.sep);
                    else
                        it.value.end = it.sep;
                }
                else
                    arrayPushArray(it.start, it.sep);
                delete it.sep;
            }
        }
    }
}
/**
 * A YAML concrete syntax tree (CST) parser
 *
 * ```ts
 * const src: string = ...
 * for (const token of new Parser().parse(src)) {
 *   // token: Token
 * }
 * ```
 *
 * To use the parser with a user-provided lexer:
 *
 * ```ts
 * function* parse(source: string, lexer: Lexer) {
 *   const parser = new Parser()
 *   for (const lexeme of lexer.lex(source))
 *     yield* parser.next(lexeme)
 *   yield* parser.end()
 * }
 *
 * const src: string = ...
 * const lexer = new Lexer()
 * for (const token of parse(src, lexer)) {
 *   // token: Token
 * }
 * ```
 */
class Parser {
    /**
     * @param onNewLine - If defined, called separately with the start position of
     *   each new line (in `parse()`, including the start of input).
     */
    constructor(onNewLine) {
        /** If true, space and sequence indicators count as indentation */
        this.atNewLine = true;
        /** If true, next token is a scalar value */
        this.atScalar = false;
        /** Current indentation level */
        this.indent = 0;
        /** Current offset since the start of parsing */
        this.offset = 0;
        /** On the same line with a block map key */
        this.onKeyLine = false;
        /** Top indicates the node that's currently being built */
        this.stack = [];
        /** The source of the current token, set in parse() */
        this.source = '';
        /** The type of the current token, set in parse() */
        this.type = '';
        // Must be defined after `next()`
        this.lexer = new lexer.Lexer();
        this.onNewLine = onNewLine;
    }
    /**
     * Parse `source` as a YAML stream.
     * If `incomplete`, a part of the last line may be left as a buffer for the next call.
     *
     * Errors are not thrown, but yielded as `{ type: 'error', message }` tokens.
     *
     * @returns A generator of tokens representing each directive, document, and other structure.
     */
    *parse(source, incomplete = false) {
        if (this.onNewLine && this.offset === 0)
            this.onNewLine(0);
        for (const lexeme of this.lexer.lex(source, incomplete))
            yield* this.next(lexeme);
        if (!incomplete)
            yield* this.end();
    }
    /**
     * Advance the parser by the `source` of one lexical token.
     */
    *next(source) {
        this.source = source;
        if (node_process.env.LOG_TOKENS)
            console.log('|', cst.prettyToken(source));
        if (this.atScalar) {
            this.atScalar = false;
            yield* this.step();
            this.offset += source.length;
            return;
        }
        const type = cst.tokenType(source);
        if (!type) {
            const message = `Not a YAML token: ${source}`;
            yield* this.pop({ type: 'error', offset: this.offset, message, source });
            this.offset += source.length;
        }
        else if (type === 'scalar') {
            this.atNewLine = false;
            this.atScalar = true;
            this.type = 'scalar';
        }
        else {
            this.type = type;
            yield* this.step();
            switch (type) {
                case 'newline':
                    this.atNewLine = true;
                    this.indent = 0;
                    if (this.onNewLine)
                        this.onNewLine(this.offset + source.length);
                    break;
                case 'space':
                    if (this.atNewLine && source[0] === ' ')
                        this.indent += source.length;
                    break;
                case 'explicit-key-ind':
                case 'map-value-ind':
                case 'seq-item-ind':
                    if (this.atNewLine)
                        this.indent += source.length;
                    break;
                case 'doc-mode':
                case 'flow-error-end':
                    return;
                default:
                    this.atNewLine = false;
            }
            this.offset += source.length;
        }
    }
    /** Call at end of input to push out any remaining constructions */
    *end() {
        while (this.stack.length > 0)
            yield* this.pop();
    }
    get sourceToken() {
        const st = {
            type: this.type,
            offset: this.offset,
            indent: this.indent,
            source: this.source
        };
        return st;
    }
    *step() {
        const top = this.peek(1);
        if (this.type === 'doc-end' && top?.type !== 'doc-end') {
            while (this.stack.length > 0)
                yield* this.pop();
            this.stack.push({
                type: 'doc-end',
                offset: this.offset,
                source: this.source
            });
            return;
        }
        if (!top)
            return yield* this.stream();
        switch (top.type) {
            case 'document':
                return yield* this.document(top);
            case 'alias':
            case 'scalar':
            case 'single-quoted-scalar':
            case 'double-quoted-scalar':
                return yield* this.scalar(top);
            case 'block-scalar':
                return yield* this.blockScalar(top);
            case 'block-map':
                return yield* this.blockMap(top);
            case 'block-seq':
                return yield* this.blockSequence(top);
            case 'flow-collection':
                return yield* this.flowCollection(top);
            case 'doc-end':
                return yield* this.documentEnd(top);
        }
        /* istanbul ignore next should not happen */
        yield* this.pop();
    }
    peek(n) {
        return this.stack[this.stack.length - n];
    }
    *pop(error) {
        const token = error ?? this.stack.pop();
        /* istanbul ignore if should not happen */
        if (!token) {
            const message = 'Tried to pop an empty stack';
            yield { type: 'error', offset: this.offset, source: '', message };
        }
        else if (this.stack.length === 0) {
            yield token;
        }
        else {
            const top = this.peek(1);
            if (token.type === 'block-scalar') {
                // Block scalars use their parent rather than header indent
                token.indent = 'indent' in top ? top.indent : 0;
            }
            else if (token.type === 'flow-collection' && top.type === 'document') {
                // Ignore all indent for top-level flow collections
                token.indent = 0;
            }
            if (token.type === 'flow-collection')
                fixFlowSeqItems(token);
            switch (top.type) {
                case 'document':
                    top.value = token;
                    break;
                case 'block-scalar':
                    top.props.push(token); // error
                    break;
                case 'block-map': {
                    const it = top.items[top.items.length - 1];
                    if (it.value) {
                        top.items.push({ start: [], key: token, sep: [] });
                        this.onKeyLine = true;
                        return;
                    }
                    else if (it.sep) {
                        it.value = token;
                    }
                    else {
                        Object.assign(it, { key: token, sep: [] });
                        this.onKeyLine = !it.explicitKey;
                        return;
                    }
                    break;
                }
                case 'block-seq': {
                    const it = top.items[top.items.length - 1];
                    if (it.value)
                        top.items.push({ start: [], value: token });
                    else
                        it.value = token;
                    break;
                }
                case 'flow-collection': {
                    const it = top.items[top.items.length - 1];
                    if (!it || it.value)
                        top.items.push({ start: [], key: token, sep: [] });
                    else if (it.sep)
                        it.value = token;
                    else
                        Object.assign(it, { key: token, sep: [] });
                    return;
                }
                /* istanbul ignore next should not happen */
                default:
                    yield* this.pop();
                    yield* this.pop(token);
            }
            if ((top.type === 'document' ||
                top.type === 'block-map' ||
                top.type === 'block-seq') &&
                (token.type === 'block-map' || token.type === 'block-seq')) {
                const last = token.items[token.items.length - 1];
                if (last &&
                    !last.sep &&
                    !last.value &&
                    last.start.length > 0 &&
                    findNonEmptyIndex(last.start) === -1 &&
                    (token.indent === 0 ||
                        last.start.every(st => st.type !== 'comment' || st.indent < token.indent))) {
                    if (top.type === 'document')
                        top.end = last.start;
                    else
                        top.items.push({ start: last.start });
                    token.items.splice(-1, 1);
                }
            }
        }
    }
    *stream() {
        switch (this.type) {
            case 'directive-line':
                yield { type: 'directive', offset: this.offset, source: this.source };
                return;
            case 'byte-order-mark':
            case 'space':
            case 'comment':
            case 'newline':
                yield this.sourceToken;
                return;
            case 'doc-mode':
            case 'doc-start': {
                const doc = {
                    type: 'document',
                    offset: this.offset,
                    start: []
                };
                if (this.type === 'doc-start')
                    doc.start.push(this.sourceToken);
                this.stack.push(doc);
                return;
            }
        }
        yield {
            type: 'error',
            offset: this.offset,
            message: `Unexpected ${this.type} token in YAML stream`,
            source: this.source
        };
    }
    *document(doc) {
        if (doc.value)
            return yield* this.lineEnd(doc);
        switch (this.type) {
            case 'doc-start': {
                if (findNonEmptyIndex(doc.start) !== -1) {
                    yield* this.pop();
                    yield* this.step();
                }
                else
                    doc.start.push(this.sourceToken);
                return;
            }
            case 'anchor':
            case 'tag':
            case 'space':
            case 'comment':
            case 'newline':
                doc.start.push(this.sourceToken);
                return;
        }
        const bv = this.startBlockValue(doc);
        if (bv)
            this.stack.push(bv);
        else {
            yield {
                type: 'error',
                offset: this.offset,
                message: `Unexpected ${this.type} token in YAML document`,
                source: this.source
            };
        }
    }
    *scalar(scalar) {
        if (this.type === 'map-value-ind') {
            const prev = getPrevProps(this.peek(2));
            const start = getFirstKeyStartProps(prev);
            let sep;
            if (scalar.end) {
                sep = scalar.end;
                sep.push(this.sourceToken);
                delete scalar.end;
            }
            else
                sep = [this.sourceToken];
            const map = {
                type: 'block-map',
                offset: scalar.offset,
                indent: scalar.indent,
                items: [{ start, key: scalar, sep }]
            };
            this.onKeyLine = true;
            this.stack[this.stack.length - 1] = map;
        }
        else
            yield* this.lineEnd(scalar);
    }
    *blockScalar(scalar) {
        switch (this.type) {
            case 'space':
            case 'comment':
            case 'newline':
                scalar.props.push(this.sourceToken);
                return;
            case 'scalar':
                scalar.source = this.source;
                // block-scalar source includes trailing newline
                this.atNewLine = true;
                this.indent = 0;
                if (this.onNewLine) {
                    let nl = this.source.indexOf('\n') + 1;
                    while (nl !== 0) {
                        this.onNewLine(this.offset + nl);
                        nl = this.source.indexOf('\n', nl) + 1;
                    }
                }
                yield* this.pop();
                break;
            /* istanbul ignore next should not happen */
            default:
                yield* this.pop();
                yield* this.step();
        }
    }
    *blockMap(map) {
        const it = map.items[map.items.length - 1];
        // it.sep is true-ish if pair already has key or : separator
        switch (this.type) {
            case 'newline':
                this.onKeyLine = false;
                if (it.value) {
                    const end = 'end' in it.value ? it.value.end : undefined;
                    const last = Array.isArray(end) ? end[end.length - 1] : undefined;
                    if (last?.type === 'comment')
                        end?.push(this.sourceToken);
                    else
                        map.items.push({ start: [this.sourceToken] });
                }
                else if (it.sep) {
                    it.sep.push(this.sourceToken);
                }
                else {
                    it.start.push(this.sourceToken);
                }
                return;
            case 'space':
            case 'comment':
                if (it.value) {
                    map.items.push({ start: [this.sourceToken] });
                }
                else if (it.sep) {
                    it.sep.push(this.sourceToken);
                }
                else {
                    if (this.atIndentedComment(it.start, map.indent)) {
                        const prev = map.items[map.items.length - 2];
                        const end = prev?.value?.end;
                        if (Array.isArray(end)) {
                            arrayPushArray(end, it.start);
                            end.push(this.sourceToken);
                            map.items.pop();
                            return;
                        }
                    }
                    it.start.push(this.sourceToken);
                }
                return;
        }
        if (this.indent >= map.indent) {
            const atMapIndent = !this.onKeyLine && this.indent === map.indent;
            const atNextItem = atMapIndent &&
                (it.sep || it.explicitKey) &&
                this.type !== 'seq-item-ind';
            // For empty nodes, assign newline-separated not indented empty tokens to following node
            let start = [];
            if (atNextItem && it.sep && !it.value) {
                const nl = [];
                for (let i = 0; i < it.sep.length; ++i) {
                    const st = it.sep[i];
                    switch (st.type) {
                        case 'newline':
                            nl.push(i);
                            break;
                        case 'space':
                            break;
                        case 'comment':
                            if (st.indent > map.indent)
                                nl.length = 0;
                            break;
                        default:
                            nl.length = 0;
                    }
                }
                if (nl.length >= 2)
                    start = it.sep.splice(nl[1]);
            }
            switch (this.type) {
                case 'anchor':
                case 'tag':
                    if (atNextItem || it.value) {
                        start.push(this.sourceToken);
                        map.items.push({ start });
                        this.onKeyLine = true;
                    }
                    else if (it.sep) {
                        it.sep.push(this.sourceToken);
                    }
                    else {
                        it.start.push(this.sourceToken);
                    }
                    return;
                case 'explicit-key-ind':
                    if (!it.sep && !it.explicitKey) {
                        it.start.push(this.sourceToken);
                        it.explicitKey = true;
                    }
                    else if (atNextItem || it.value) {
                        start.push(this.sourceToken);
                        map.items.push({ start, explicitKey: true });
                    }
                    else {
                        this.stack.push({
                            type: 'block-map',
                            offset: this.offset,
                            indent: this.indent,
                            items: [{ start: [this.sourceToken], explicitKey: true }]
                        });
                    }
                    this.onKeyLine = true;
                    return;
                case 'map-value-ind':
                    if (it.explicitKey) {
                        if (!it.sep) {
                            if (includesToken(it.start, 'newline')) {
                                Object.assign(it, { key: null, sep: [this.sourceToken] });
                            }
                            else {
                                const start = getFirstKeyStartProps(it.start);
                                this.stack.push({
                                    type: 'block-map',
                                    offset: this.offset,
                                    indent: this.indent,
                                    items: [{ start, key: null, sep: [this.sourceToken] }]
                                });
                            }
                        }
                        else if (it.value) {
                            map.items.push({ start: [], key: null, sep: [this.sourceToken] });
                        }
                        else if (includesToken(it.sep, 'map-value-ind')) {
                            this.stack.push({
                                type: 'block-map',
                                offset: this.offset,
                                indent: this.indent,
                                items: [{ start, key: null, sep: [this.sourceToken] }]
                            });
                        }
                        else if (isFlowToken(it.key) &&
                            !includesToken(it.sep, 'newline')) {
                            const start = getFirstKeyStartProps(it.start);
                            const key = it.key;
                            const sep = it.sep;
                            sep.push(this.sourceToken);
                            // @ts-expect-error type guard is wrong here
                            delete it.key;
                            // @ts-expect-error type guard is wrong here
                            delete it.sep;
                            this.stack.push({
                                type: 'block-map',
                                offset: this.offset,
                                indent: this.indent,
                                items: [{ start, key, sep }]
                            });
                        }
                        else if (start.length > 0) {
                            // Not actually at next item
                            it.sep = it.sep.concat(start, this.sourceToken);
                        }
                        else {
                            it.sep.push(this.sourceToken);
                        }
                    }
                    else {
                        if (!it.sep) {
                            Object.assign(it, { key: null, sep: [this.sourceToken] });
                        }
                        else if (it.value || atNextItem) {
                            map.items.push({ start, key: null, sep: [this.sourceToken] });
                        }
                        else if (includesToken(it.sep, 'map-value-ind')) {
                            this.stack.push({
                                type: 'block-map',
                                offset: this.offset,
                                indent: this.indent,
                                items: [{ start: [], key: null, sep: [this.sourceToken] }]
                            });
                        }
                        else {
                            it.sep.push(this.sourceToken);
                        }
                    }
                    this.onKeyLine = true;
                    return;
                case 'alias':
                case 'scalar':
                case 'single-quoted-scalar':
                case 'double-quoted-scalar': {
                    const fs = this.flowScalar(this.type);
                    if (atNextItem || it.value) {
                        map.items.push({ start, key: fs, sep: [] });
                        this.onKeyLine = true;
                    }
                    else if (it.sep) {
                        this.stack.push(fs);
                    }
                    else {
                        Object.assign(it, { key: fs, sep: [] });
                        this.onKeyLine = true;
                    }
                    return;
                }
                default: {
                    const bv = this.startBlockValue(map);
                    if (bv) {
                        if (bv.type === 'block-seq') {
                            if (!it.explicitKey &&
                                it.sep &&
                                !includesToken(it.sep, 'newline')) {
                                yield* this.pop({
                                    type: 'error',
                                    offset: this.offset,
                                    message: 'Unexpected block-seq-ind on same line with key',
                                    source: this.source
                                });
                                return;
                            }
                        }
                        else if (atMapIndent) {
                            map.items.push({ start });
                        }
                        this.stack.push(bv);
                        return;
                    }
                }
            }
        }
        yield* this.pop();
        yield* this.step();
    }
    *blockSequence(seq) {
        const it = seq.items[seq.items.length - 1];
        switch (this.type) {
            case 'newline':
                if (it.value) {
                    const end = 'end' in it.value ? it.value.end : undefined;
                    const last = Array.isArray(end) ? end[end.length - 1] : undefined;
                    if (last?.type === 'comment')
                        end?.push(this.sourceToken);
                    else
                        seq.items.push({ start: [this.sourceToken] });
                }
                else
                    it.start.push(this.sourceToken);
                return;
            case 'space':
            case 'comment':
                if (it.value)
                    seq.items.push({ start: [this.sourceToken] });
                else {
                    if (this.atIndentedComment(it.start, seq.indent)) {
                        const prev = seq.items[seq.items.length - 2];
                        const end = prev?.value?.end;
                        if (Array.isArray(end)) {
                            arrayPushArray(end, it.start);
                            end.push(this.sourceToken);
                            seq.items.pop();
                            return;
                        }
                    }
                    it.start.push(this.sourceToken);
                }
                return;
            case 'anchor':
            case 'tag':
                if (it.value || this.indent <= seq.indent)
                    break;
                it.start.push(this.sourceToken);
                return;
            case 'seq-item-ind':
                if (this.indent !== seq.indent)
                    break;
                if (it.value || includesToken(it.start, 'seq-item-ind'))
                    seq.items.push({ start: [this.sourceToken] });
                else
                    it.start.push(this.sourceToken);
                return;
        }
        if (this.indent > seq.indent) {
            const bv = this.startBlockValue(seq);
            if (bv) {
                this.stack.push(bv);
                return;
            }
        }
        yield* this.pop();
        yield* this.step();
    }
    *flowCollection(fc) {
        const it = fc.items[fc.items.length - 1];
        if (this.type === 'flow-error-end') {
            let top;
            do {
                yield* this.pop();
                top = this.peek(1);
            } while (top?.type === 'flow-collection');
        }
        else if (fc.end.length === 0) {
            switch (this.type) {
                case 'comma':
                case 'explicit-key-ind':
                    if (!it || it.sep)
                        fc.items.push({ start: [this.sourceToken] });
                    else
                        it.start.push(this.sourceToken);
                    return;
                case 'map-value-ind':
                    if (!it || it.value)
                        fc.items.push({ start: [], key: null, sep: [this.sourceToken] });
                    else if (it.sep)
                        it.sep.push(this.sourceToken);
                    else
                        Object.assign(it, { key: null, sep: [this.sourceToken] });
                    return;
                case 'space':
                case 'comment':
                case 'newline':
                case 'anchor':
                case 'tag':
                    if (!it || it.value)
                        fc.items.push({ start: [this.sourceToken] });
                    else if (it.sep)
                        it.sep.push(this.sourceToken);
                    else
                        it.start.push(this.sourceToken);
                    return;
                case 'alias':
                case 'scalar':
                case 'single-quoted-scalar':
                case 'double-quoted-scalar': {
                    const fs = this.flowScalar(this.type);
                    if (!it || it.value)
                        fc.items.push({ start: [], key: fs, sep: [] });
                    else if (it.sep)
                        this.stack.push(fs);
                    else
                        Object.assign(it, { key: fs, sep: [] });
                    return;
                }
                case 'flow-map-end':
                case 'flow-seq-end':
                    fc.end.push(this.sourceToken);
                    return;
            }
            const bv = this.startBlockValue(fc);
            /* istanbul ignore else should not happen */
            if (bv)
                this.stack.push(bv);
            else {
                yield* this.pop();
                yield* this.step();
            }
        }
        else {
            const parent = this.peek(2);
            if (parent.type === 'block-map' &&
                ((this.type === 'map-value-ind' && parent.indent === fc.indent) ||
                    (this.type === 'newline' &&
                        !parent.items[parent.items.length - 1].sep))) {
                yield* this.pop();
                yield* this.step();
            }
            else if (this.type === 'map-value-ind' &&
                parent.type !== 'flow-collection') {
                const prev = getPrevProps(parent);
                const start = getFirstKeyStartProps(prev);
                fixFlowSeqItems(fc);
                const sep = fc.end.splice(1, fc.end.length);
                sep.push(this.sourceToken);
                const map = {
                    type: 'block-map',
                    offset: fc.offset,
                    indent: fc.indent,
                    items: [{ start, key: fc, sep }]
                };
                this.onKeyLine = true;
                this.stack[this.stack.length - 1] = map;
            }
            else {
                yield* this.lineEnd(fc);
            }
        }
    }
    flowScalar(type) {
        if (this.onNewLine) {
            let nl = this.source.indexOf('\n') + 1;
            while (nl !== 0) {
                this.onNewLine(this.offset + nl);
                nl = this.source.indexOf('\n', nl) + 1;
            }
        }
        return {
            type,
            offset: this.offset,
            indent: this.indent,
            source: this.source
        };
    }
    startBlockValue(parent) {
        switch (this.type) {
            case 'alias':
            case 'scalar':
            case 'single-quoted-scalar':
            case 'double-quoted-scalar':
                return this.flowScalar(this.type);
            case 'block-scalar-header':
                return {
                    type: 'block-scalar',
                    offset: this.offset,
                    indent: this.indent,
                    props: [this.sourceToken],
                    source: ''
                };
            case 'flow-map-start':
            case 'flow-seq-start':
                return {
                    type: 'flow-collection',
                    offset: this.offset,
                    indent: this.indent,
                    start: this.sourceToken,
                    items: [],
                    end: []
                };
            case 'seq-item-ind':
                return {
                    type: 'block-seq',
                    offset: this.offset,
                    indent: this.indent,
                    items: [{ start: [this.sourceToken] }]
                };
            case 'explicit-key-ind': {
                this.onKeyLine = true;
                const prev = getPrevProps(parent);
                const start = getFirstKeyStartProps(prev);
                start.push(this.sourceToken);
                return {
                    type: 'block-map',
                    offset: this.offset,
                    indent: this.indent,
                    items: [{ start, explicitKey: true }]
                };
            }
            case 'map-value-ind': {
                this.onKeyLine = true;
                const prev = getPrevProps(parent);
                const start = getFirstKeyStartProps(prev);
                return {
                    type: 'block-map',
                    offset: this.offset,
                    indent: this.indent,
                    items: [{ start, key: null, sep: [this.sourceToken] }]
                };
            }
        }
        return null;
    }
    atIndentedComment(start, indent) {
        if (this.type !== 'comment')
            return false;
        if (this.indent <= indent)
            return false;
        return start.every(st => st.type === 'newline' || st.type === 'space');
    }
    *documentEnd(docEnd) {
        if (this.type !== 'doc-mode') {
            if (docEnd.end)
                docEnd.end.push(this.sourceToken);
            else
                docEnd.end = [this.sourceToken];
            if (this.type === 'newline')
                yield* this.pop();
        }
    }
    *lineEnd(token) {
        switch (this.type) {
            case 'comma':
            case 'doc-start':
            case 'doc-end':
            case 'flow-seq-end':
            case 'flow-map-end':
            case 'map-value-ind':
                yield* this.pop();
                yield* this.step();
                break;
            case 'newline':
                this.onKeyLine = false;
            // fallthrough
            case 'space':
            case 'comment':
            default:
                // all other values are errors
                if (token.end)
                    token.end.push(this.sourceToken);
                else
                    token.end = [this.sourceToken];
                if (this.type === 'newline')
                    yield* this.pop();
        }
    }
}

exports.Parser = Parser;


/***/ }),

/***/ 4047:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var composer = __nccwpck_require__(9984);
var Document = __nccwpck_require__(3021);
var errors = __nccwpck_require__(1464);
var log = __nccwpck_require__(7249);
var identity = __nccwpck_require__(1127);
var lineCounter = __nccwpck_require__(6628);
var parser = __nccwpck_require__(3456);

function parseOptions(options) {
    const prettyErrors = options.prettyErrors !== false;
    const lineCounter$1 = options.lineCounter || (prettyErrors && new lineCounter.LineCounter()) || null;
    return { lineCounter: lineCounter$1, prettyErrors };
}
/**
 * Parse the input as a stream of YAML documents.
 *
 * Documents should be separated from each other by `...` or `---` marker lines.
 *
 * @returns If an empty `docs` array is returned, it will be of type
 *   EmptyStream and contain additional stream information. In
 *   TypeScript, you should use `'empty' in docs` as a type guard for it.
 */
function parseAllDocuments(source, options = {}) {
    const { lineCounter, prettyErrors } = parseOptions(options);
    const parser$1 = new parser.Parser(lineCounter?.addNewLine);
    const composer$1 = new composer.Composer(options);
    const docs = Array.from(composer$1.compose(parser$1.parse(source)));
    if (prettyErrors && lineCounter)
        for (const doc of docs) {
            doc.errors.forEach(errors.prettifyError(source, lineCounter));
            doc.warnings.forEach(errors.prettifyError(source, lineCounter));
        }
    if (docs.length > 0)
        return docs;
    return Object.assign([], { empty: true }, composer$1.streamInfo());
}
/** Parse an input string into a single YAML.Document */
function parseDocument(source, options = {}) {
    const { lineCounter, prettyErrors } = parseOptions(options);
    const parser$1 = new parser.Parser(lineCounter?.addNewLine);
    const composer$1 = new composer.Composer(options);
    // `doc` is always set by compose.end(true) at the very latest
    let doc = null;
    for (const _doc of composer$1.compose(parser$1.parse(source), true, source.length)) {
        if (!doc)
            doc = _doc;
        else if (doc.options.logLevel !== 'silent') {
            doc.errors.push(new errors.YAMLParseError(_doc.range.slice(0, 2), 'MULTIPLE_DOCS', 'Source contains multiple documents; please use YAML.parseAllDocuments()'));
            break;
        }
    }
    if (prettyErrors && lineCounter) {
        doc.errors.forEach(errors.prettifyError(source, lineCounter));
        doc.warnings.forEach(errors.prettifyError(source, lineCounter));
    }
    return doc;
}
function parse(src, reviver, options) {
    let _reviver = undefined;
    if (typeof reviver === 'function') {
        _reviver = reviver;
    }
    else if (options === undefined && reviver && typeof reviver === 'object') {
        options = reviver;
    }
    const doc = parseDocument(src, options);
    if (!doc)
        return null;
    doc.warnings.forEach(warning => log.warn(doc.options.logLevel, warning));
    if (doc.errors.length > 0) {
        if (doc.options.logLevel !== 'silent')
            throw doc.errors[0];
        else
            doc.errors = [];
    }
    return doc.toJS(Object.assign({ reviver: _reviver }, options));
}
function stringify(value, replacer, options) {
    let _replacer = null;
    if (typeof replacer === 'function' || Array.isArray(replacer)) {
        _replacer = replacer;
    }
    else if (options === undefined && replacer) {
        options = replacer;
    }
    if (typeof options === 'string')
        options = options.length;
    if (typeof options === 'number') {
        const indent = Math.round(options);
        options = indent < 1 ? undefined : indent > 8 ? { indent: 8 } : { indent };
    }
    if (value === undefined) {
        const { keepUndefined } = options ?? replacer ?? {};
        if (!keepUndefined)
            return undefined;
    }
    if (identity.isDocument(value) && !_replacer)
        return value.toString(options);
    return new Document.Document(value, _replacer, options).toString(options);
}

exports.parse = parse;
exports.parseAllDocuments = parseAllDocuments;
exports.parseDocument = parseDocument;
exports.stringify = stringify;


/***/ }),

/***/ 5840:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var identity = __nccwpck_require__(1127);
var map = __nccwpck_require__(7451);
var seq = __nccwpck_require__(1706);
var string = __nccwpck_require__(6464);
var tags = __nccwpck_require__(18);

const sortMapEntriesByKey = (a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
class Schema {
    constructor({ compat, customTags, merge, resolveKnownTags, schema, sortMapEntries, toStringDefaults }) {
        this.compat = Array.isArray(compat)
            ? tags.getTags(compat, 'compat')
            : compat
                ? tags.getTags(null, compat)
                : null;
        this.name = (typeof schema === 'string' && schema) || 'core';
        this.knownTags = resolveKnownTags ? tags.coreKnownTags : {};
        this.tags = tags.getTags(customTags, this.name, merge);
        this.toStringOptions = toStringDefaults ?? null;
        Object.defineProperty(this, identity.MAP, { value: map.map });
        Object.defineProperty(this, identity.SCALAR, { value: string.string });
        Object.defineProperty(this, identity.SEQ, { value: seq.seq });
        // Used by createMap()
        this.sortMapEntries =
            typeof sortMapEntries === 'function'
                ? sortMapEntries
                : sortMapEntries === true
                    ? sortMapEntriesByKey
                    : null;
    }
    clone() {
        const copy = Object.create(Schema.prototype, Object.getOwnPropertyDescriptors(this));
        copy.tags = this.tags.slice();
        return copy;
    }
}

exports.Schema = Schema;


/***/ }),

/***/ 7451:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var identity = __nccwpck_require__(1127);
var YAMLMap = __nccwpck_require__(4454);

const map = {
    collection: 'map',
    default: true,
    nodeClass: YAMLMap.YAMLMap,
    tag: 'tag:yaml.org,2002:map',
    resolve(map, onError) {
        if (!identity.isMap(map))
            onError('Expected a mapping for this tag');
        return map;
    },
    createNode: (schema, obj, ctx) => YAMLMap.YAMLMap.from(schema, obj, ctx)
};

exports.map = map;


/***/ }),

/***/ 3632:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var Scalar = __nccwpck_require__(3301);

const nullTag = {
    identify: value => value == null,
    createNode: () => new Scalar.Scalar(null),
    default: true,
    tag: 'tag:yaml.org,2002:null',
    test: /^(?:~|[Nn]ull|NULL)?$/,
    resolve: () => new Scalar.Scalar(null),
    stringify: ({ source }, ctx) => typeof source === 'string' && nullTag.test.test(source)
        ? source
        : ctx.options.nullStr
};

exports.nullTag = nullTag;


/***/ }),

/***/ 1706:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var identity = __nccwpck_require__(1127);
var YAMLSeq = __nccwpck_require__(2223);

const seq = {
    collection: 'seq',
    default: true,
    nodeClass: YAMLSeq.YAMLSeq,
    tag: 'tag:yaml.org,2002:seq',
    resolve(seq, onError) {
        if (!identity.isSeq(seq))
            onError('Expected a sequence for this tag');
        return seq;
    },
    createNode: (schema, obj, ctx) => YAMLSeq.YAMLSeq.from(schema, obj, ctx)
};

exports.seq = seq;


/***/ }),

/***/ 6464:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var stringifyString = __nccwpck_require__(3069);

const string = {
    identify: value => typeof value === 'string',
    default: true,
    tag: 'tag:yaml.org,2002:str',
    resolve: str => str,
    stringify(item, ctx, onComment, onChompKeep) {
        ctx = Object.assign({ actualString: true }, ctx);
        return stringifyString.stringifyString(item, ctx, onComment, onChompKeep);
    }
};

exports.string = string;


/***/ }),

/***/ 3959:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var Scalar = __nccwpck_require__(3301);

const boolTag = {
    identify: value => typeof value === 'boolean',
    default: true,
    tag: 'tag:yaml.org,2002:bool',
    test: /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/,
    resolve: str => new Scalar.Scalar(str[0] === 't' || str[0] === 'T'),
    stringify({ source, value }, ctx) {
        if (source && boolTag.test.test(source)) {
            const sv = source[0] === 't' || source[0] === 'T';
            if (value === sv)
                return source;
        }
        return value ? ctx.options.trueStr : ctx.options.falseStr;
    }
};

exports.boolTag = boolTag;


/***/ }),

/***/ 8405:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var Scalar = __nccwpck_require__(3301);
var stringifyNumber = __nccwpck_require__(8689);

const floatNaN = {
    identify: value => typeof value === 'number',
    default: true,
    tag: 'tag:yaml.org,2002:float',
    test: /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/,
    resolve: str => str.slice(-3).toLowerCase() === 'nan'
        ? NaN
        : str[0] === '-'
            ? Number.NEGATIVE_INFINITY
            : Number.POSITIVE_INFINITY,
    stringify: stringifyNumber.stringifyNumber
};
const floatExp = {
    identify: value => typeof value === 'number',
    default: true,
    tag: 'tag:yaml.org,2002:float',
    format: 'EXP',
    test: /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$/,
    resolve: str => parseFloat(str),
    stringify(node) {
        const num = Number(node.value);
        return isFinite(num) ? num.toExponential() : stringifyNumber.stringifyNumber(node);
    }
};
const float = {
    identify: value => typeof value === 'number',
    default: true,
    tag: 'tag:yaml.org,2002:float',
    test: /^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$/,
    resolve(str) {
        const node = new Scalar.Scalar(parseFloat(str));
        const dot = str.indexOf('.');
        if (dot !== -1 && str[str.length - 1] === '0')
            node.minFractionDigits = str.length - dot - 1;
        return node;
    },
    stringify: stringifyNumber.stringifyNumber
};

exports.float = float;
exports.floatExp = floatExp;
exports.floatNaN = floatNaN;


/***/ }),

/***/ 9874:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var stringifyNumber = __nccwpck_require__(8689);

const intIdentify = (value) => typeof value === 'bigint' || Number.isInteger(value);
const intResolve = (str, offset, radix, { intAsBigInt }) => (intAsBigInt ? BigInt(str) : parseInt(str.substring(offset), radix));
function intStringify(node, radix, prefix) {
    const { value } = node;
    if (intIdentify(value) && value >= 0)
        return prefix + value.toString(radix);
    return stringifyNumber.stringifyNumber(node);
}
const intOct = {
    identify: value => intIdentify(value) && value >= 0,
    default: true,
    tag: 'tag:yaml.org,2002:int',
    format: 'OCT',
    test: /^0o[0-7]+$/,
    resolve: (str, _onError, opt) => intResolve(str, 2, 8, opt),
    stringify: node => intStringify(node, 8, '0o')
};
const int = {
    identify: intIdentify,
    default: true,
    tag: 'tag:yaml.org,2002:int',
    test: /^[-+]?[0-9]+$/,
    resolve: (str, _onError, opt) => intResolve(str, 0, 10, opt),
    stringify: stringifyNumber.stringifyNumber
};
const intHex = {
    identify: value => intIdentify(value) && value >= 0,
    default: true,
    tag: 'tag:yaml.org,2002:int',
    format: 'HEX',
    test: /^0x[0-9a-fA-F]+$/,
    resolve: (str, _onError, opt) => intResolve(str, 2, 16, opt),
    stringify: node => intStringify(node, 16, '0x')
};

exports.int = int;
exports.intHex = intHex;
exports.intOct = intOct;


/***/ }),

/***/ 896:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var map = __nccwpck_require__(7451);
var _null = __nccwpck_require__(3632);
var seq = __nccwpck_require__(1706);
var string = __nccwpck_require__(6464);
var bool = __nccwpck_require__(3959);
var float = __nccwpck_require__(8405);
var int = __nccwpck_require__(9874);

const schema = [
    map.map,
    seq.seq,
    string.string,
    _null.nullTag,
    bool.boolTag,
    int.intOct,
    int.int,
    int.intHex,
    float.floatNaN,
    float.floatExp,
    float.float
];

exports.schema = schema;


/***/ }),

/***/ 3559:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var Scalar = __nccwpck_require__(3301);
var map = __nccwpck_require__(7451);
var seq = __nccwpck_require__(1706);

function intIdentify(value) {
    return typeof value === 'bigint' || Number.isInteger(value);
}
const stringifyJSON = ({ value }) => JSON.stringify(value);
const jsonScalars = [
    {
        identify: value => typeof value === 'string',
        default: true,
        tag: 'tag:yaml.org,2002:str',
        resolve: str => str,
        stringify: stringifyJSON
    },
    {
        identify: value => value == null,
        createNode: () => new Scalar.Scalar(null),
        default: true,
        tag: 'tag:yaml.org,2002:null',
        test: /^null$/,
        resolve: () => null,
        stringify: stringifyJSON
    },
    {
        identify: value => typeof value === 'boolean',
        default: true,
        tag: 'tag:yaml.org,2002:bool',
        test: /^true$|^false$/,
        resolve: str => str === 'true',
        stringify: stringifyJSON
    },
    {
        identify: intIdentify,
        default: true,
        tag: 'tag:yaml.org,2002:int',
        test: /^-?(?:0|[1-9][0-9]*)$/,
        resolve: (str, _onError, { intAsBigInt }) => intAsBigInt ? BigInt(str) : parseInt(str, 10),
        stringify: ({ value }) => intIdentify(value) ? value.toString() : JSON.stringify(value)
    },
    {
        identify: value => typeof value === 'number',
        default: true,
        tag: 'tag:yaml.org,2002:float',
        test: /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?$/,
        resolve: str => parseFloat(str),
        stringify: stringifyJSON
    }
];
const jsonError = {
    default: true,
    tag: '',
    test: /^/,
    resolve(str, onError) {
        onError(`Unresolved plain scalar ${JSON.stringify(str)}`);
        return str;
    }
};
const schema = [map.map, seq.seq].concat(jsonScalars, jsonError);

exports.schema = schema;


/***/ }),

/***/ 18:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var map = __nccwpck_require__(7451);
var _null = __nccwpck_require__(3632);
var seq = __nccwpck_require__(1706);
var string = __nccwpck_require__(6464);
var bool = __nccwpck_require__(3959);
var float = __nccwpck_require__(8405);
var int = __nccwpck_require__(9874);
var schema = __nccwpck_require__(896);
var schema$1 = __nccwpck_require__(3559);
var binary = __nccwpck_require__(6083);
var merge = __nccwpck_require__(452);
var omap = __nccwpck_require__(303);
var pairs = __nccwpck_require__(8385);
var schema$2 = __nccwpck_require__(5913);
var set = __nccwpck_require__(1528);
var timestamp = __nccwpck_require__(6752);

const schemas = new Map([
    ['core', schema.schema],
    ['failsafe', [map.map, seq.seq, string.string]],
    ['json', schema$1.schema],
    ['yaml11', schema$2.schema],
    ['yaml-1.1', schema$2.schema]
]);
const tagsByName = {
    binary: binary.binary,
    bool: bool.boolTag,
    float: float.float,
    floatExp: float.floatExp,
    floatNaN: float.floatNaN,
    floatTime: timestamp.floatTime,
    int: int.int,
    intHex: int.intHex,
    intOct: int.intOct,
    intTime: timestamp.intTime,
    map: map.map,
    merge: merge.merge,
    null: _null.nullTag,
    omap: omap.omap,
    pairs: pairs.pairs,
    seq: seq.seq,
    set: set.set,
    timestamp: timestamp.timestamp
};
const coreKnownTags = {
    'tag:yaml.org,2002:binary': binary.binary,
    'tag:yaml.org,2002:merge': merge.merge,
    'tag:yaml.org,2002:omap': omap.omap,
    'tag:yaml.org,2002:pairs': pairs.pairs,
    'tag:yaml.org,2002:set': set.set,
    'tag:yaml.org,2002:timestamp': timestamp.timestamp
};
function getTags(customTags, schemaName, addMergeTag) {
    const schemaTags = schemas.get(schemaName);
    if (schemaTags && !customTags) {
        return addMergeTag && !schemaTags.includes(merge.merge)
            ? schemaTags.concat(merge.merge)
            : schemaTags.slice();
    }
    let tags = schemaTags;
    if (!tags) {
        if (Array.isArray(customTags))
            tags = [];
        else {
            const keys = Array.from(schemas.keys())
                .filter(key => key !== 'yaml11')
                .map(key => JSON.stringify(key))
                .join(', ');
            throw new Error(`Unknown schema "${schemaName}"; use one of ${keys} or define customTags array`);
        }
    }
    if (Array.isArray(customTags)) {
        for (const tag of customTags)
            tags = tags.concat(tag);
    }
    else if (typeof customTags === 'function') {
        tags = customTags(tags.slice());
    }
    if (addMergeTag)
        tags = tags.concat(merge.merge);
    return tags.reduce((tags, tag) => {
        const tagObj = typeof tag === 'string' ? tagsByName[tag] : tag;
        if (!tagObj) {
            const tagName = JSON.stringify(tag);
            const keys = Object.keys(tagsByName)
                .map(key => JSON.stringify(key))
                .join(', ');
            throw new Error(`Unknown custom tag ${tagName}; use one of ${keys}`);
        }
        if (!tags.includes(tagObj))
            tags.push(tagObj);
        return tags;
    }, []);
}

exports.coreKnownTags = coreKnownTags;
exports.getTags = getTags;


/***/ }),

/***/ 6083:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var node_buffer = __nccwpck_require__(181);
var Scalar = __nccwpck_require__(3301);
var stringifyString = __nccwpck_require__(3069);

const binary = {
    identify: value => value instanceof Uint8Array, // Buffer inherits from Uint8Array
    default: false,
    tag: 'tag:yaml.org,2002:binary',
    /**
     * Returns a Buffer in node and an Uint8Array in browsers
     *
     * To use the resulting buffer as an image, you'll want to do something like:
     *
     *   const blob = new Blob([buffer], { type: 'image/jpeg' })
     *   document.querySelector('#photo').src = URL.createObjectURL(blob)
     */
    resolve(src, onError) {
        if (typeof node_buffer.Buffer === 'function') {
            return node_buffer.Buffer.from(src, 'base64');
        }
        else if (typeof atob === 'function') {
            // On IE 11, atob() can't handle newlines
            const str = atob(src.replace(/[\n\r]/g, ''));
            const buffer = new Uint8Array(str.length);
            for (let i = 0; i < str.length; ++i)
                buffer[i] = str.charCodeAt(i);
            return buffer;
        }
        else {
            onError('This environment does not support reading binary tags; either Buffer or atob is required');
            return src;
        }
    },
    stringify({ comment, type, value }, ctx, onComment, onChompKeep) {
        if (!value)
            return '';
        const buf = value; // checked earlier by binary.identify()
        let str;
        if (typeof node_buffer.Buffer === 'function') {
            str =
                buf instanceof node_buffer.Buffer
                    ? buf.toString('base64')
                    : node_buffer.Buffer.from(buf.buffer).toString('base64');
        }
        else if (typeof btoa === 'function') {
            let s = '';
            for (let i = 0; i < buf.length; ++i)
                s += String.fromCharCode(buf[i]);
            str = btoa(s);
        }
        else {
            throw new Error('This environment does not support writing binary tags; either Buffer or btoa is required');
        }
        type ?? (type = Scalar.Scalar.BLOCK_LITERAL);
        if (type !== Scalar.Scalar.QUOTE_DOUBLE) {
            const lineWidth = Math.max(ctx.options.lineWidth - ctx.indent.length, ctx.options.minContentWidth);
            const n = Math.ceil(str.length / lineWidth);
            const lines = new Array(n);
            for (let i = 0, o = 0; i < n; ++i, o += lineWidth) {
                lines[i] = str.substr(o, lineWidth);
            }
            str = lines.join(type === Scalar.Scalar.BLOCK_LITERAL ? '\n' : ' ');
        }
        return stringifyString.stringifyString({ comment, type, value: str }, ctx, onComment, onChompKeep);
    }
};

exports.binary = binary;


/***/ }),

/***/ 8398:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var Scalar = __nccwpck_require__(3301);

function boolStringify({ value, source }, ctx) {
    const boolObj = value ? trueTag : falseTag;
    if (source && boolObj.test.test(source))
        return source;
    return value ? ctx.options.trueStr : ctx.options.falseStr;
}
const trueTag = {
    identify: value => value === true,
    default: true,
    tag: 'tag:yaml.org,2002:bool',
    test: /^(?:Y|y|[Yy]es|YES|[Tt]rue|TRUE|[Oo]n|ON)$/,
    resolve: () => new Scalar.Scalar(true),
    stringify: boolStringify
};
const falseTag = {
    identify: value => value === false,
    default: true,
    tag: 'tag:yaml.org,2002:bool',
    test: /^(?:N|n|[Nn]o|NO|[Ff]alse|FALSE|[Oo]ff|OFF)$/,
    resolve: () => new Scalar.Scalar(false),
    stringify: boolStringify
};

exports.falseTag = falseTag;
exports.trueTag = trueTag;


/***/ }),

/***/ 5782:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var Scalar = __nccwpck_require__(3301);
var stringifyNumber = __nccwpck_require__(8689);

const floatNaN = {
    identify: value => typeof value === 'number',
    default: true,
    tag: 'tag:yaml.org,2002:float',
    test: /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/,
    resolve: (str) => str.slice(-3).toLowerCase() === 'nan'
        ? NaN
        : str[0] === '-'
            ? Number.NEGATIVE_INFINITY
            : Number.POSITIVE_INFINITY,
    stringify: stringifyNumber.stringifyNumber
};
const floatExp = {
    identify: value => typeof value === 'number',
    default: true,
    tag: 'tag:yaml.org,2002:float',
    format: 'EXP',
    test: /^[-+]?(?:[0-9][0-9_]*)?(?:\.[0-9_]*)?[eE][-+]?[0-9]+$/,
    resolve: (str) => parseFloat(str.replace(/_/g, '')),
    stringify(node) {
        const num = Number(node.value);
        return isFinite(num) ? num.toExponential() : stringifyNumber.stringifyNumber(node);
    }
};
const float = {
    identify: value => typeof value === 'number',
    default: true,
    tag: 'tag:yaml.org,2002:float',
    test: /^[-+]?(?:[0-9][0-9_]*)?\.[0-9_]*$/,
    resolve(str) {
        const node = new Scalar.Scalar(parseFloat(str.replace(/_/g, '')));
        const dot = str.indexOf('.');
        if (dot !== -1) {
            const f = str.substring(dot + 1).replace(/_/g, '');
            if (f[f.length - 1] === '0')
                node.minFractionDigits = f.length;
        }
        return node;
    },
    stringify: stringifyNumber.stringifyNumber
};

exports.float = float;
exports.floatExp = floatExp;
exports.floatNaN = floatNaN;


/***/ }),

/***/ 873:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var stringifyNumber = __nccwpck_require__(8689);

const intIdentify = (value) => typeof value === 'bigint' || Number.isInteger(value);
function intResolve(str, offset, radix, { intAsBigInt }) {
    const sign = str[0];
    if (sign === '-' || sign === '+')
        offset += 1;
    str = str.substring(offset).replace(/_/g, '');
    if (intAsBigInt) {
        switch (radix) {
            case 2:
                str = `0b${str}`;
                break;
            case 8:
                str = `0o${str}`;
                break;
            case 16:
                str = `0x${str}`;
                break;
        }
        const n = BigInt(str);
        return sign === '-' ? BigInt(-1) * n : n;
    }
    const n = parseInt(str, radix);
    return sign === '-' ? -1 * n : n;
}
function intStringify(node, radix, prefix) {
    const { value } = node;
    if (intIdentify(value)) {
        const str = value.toString(radix);
        return value < 0 ? '-' + prefix + str.substr(1) : prefix + str;
    }
    return stringifyNumber.stringifyNumber(node);
}
const intBin = {
    identify: intIdentify,
    default: true,
    tag: 'tag:yaml.org,2002:int',
    format: 'BIN',
    test: /^[-+]?0b[0-1_]+$/,
    resolve: (str, _onError, opt) => intResolve(str, 2, 2, opt),
    stringify: node => intStringify(node, 2, '0b')
};
const intOct = {
    identify: intIdentify,
    default: true,
    tag: 'tag:yaml.org,2002:int',
    format: 'OCT',
    test: /^[-+]?0[0-7_]+$/,
    resolve: (str, _onError, opt) => intResolve(str, 1, 8, opt),
    stringify: node => intStringify(node, 8, '0')
};
const int = {
    identify: intIdentify,
    default: true,
    tag: 'tag:yaml.org,2002:int',
    test: /^[-+]?[0-9][0-9_]*$/,
    resolve: (str, _onError, opt) => intResolve(str, 0, 10, opt),
    stringify: stringifyNumber.stringifyNumber
};
const intHex = {
    identify: intIdentify,
    default: true,
    tag: 'tag:yaml.org,2002:int',
    format: 'HEX',
    test: /^[-+]?0x[0-9a-fA-F_]+$/,
    resolve: (str, _onError, opt) => intResolve(str, 2, 16, opt),
    stringify: node => intStringify(node, 16, '0x')
};

exports.int = int;
exports.intBin = intBin;
exports.intHex = intHex;
exports.intOct = intOct;


/***/ }),

/***/ 452:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var identity = __nccwpck_require__(1127);
var Scalar = __nccwpck_require__(3301);

// If the value associated with a merge key is a single mapping node, each of
// its key/value pairs is inserted into the current mapping, unless the key
// already exists in it. If the value associated with the merge key is a
// sequence, then this sequence is expected to contain mapping nodes and each
// of these nodes is merged in turn according to its order in the sequence.
// Keys in mapping nodes earlier in the sequence override keys specified in
// later mapping nodes. -- http://yaml.org/type/merge.html
const MERGE_KEY = '<<';
const merge = {
    identify: value => value === MERGE_KEY ||
        (typeof value === 'symbol' && value.description === MERGE_KEY),
    default: 'key',
    tag: 'tag:yaml.org,2002:merge',
    test: /^<<$/,
    resolve: () => Object.assign(new Scalar.Scalar(Symbol(MERGE_KEY)), {
        addToJSMap: addMergeToJSMap
    }),
    stringify: () => MERGE_KEY
};
const isMergeKey = (ctx, key) => (merge.identify(key) ||
    (identity.isScalar(key) &&
        (!key.type || key.type === Scalar.Scalar.PLAIN) &&
        merge.identify(key.value))) &&
    ctx?.doc.schema.tags.some(tag => tag.tag === merge.tag && tag.default);
function addMergeToJSMap(ctx, map, value) {
    const source = resolveAliasValue(ctx, value);
    if (identity.isSeq(source))
        for (const it of source.items)
            mergeValue(ctx, map, it);
    else if (Array.isArray(source))
        for (const it of source)
            mergeValue(ctx, map, it);
    else
        mergeValue(ctx, map, source);
}
function mergeValue(ctx, map, value) {
    const source = resolveAliasValue(ctx, value);
    if (!identity.isMap(source))
        throw new Error('Merge sources must be maps or map aliases');
    const srcMap = source.toJSON(null, ctx, Map);
    for (const [key, value] of srcMap) {
        if (map instanceof Map) {
            if (!map.has(key))
                map.set(key, value);
        }
        else if (map instanceof Set) {
            map.add(key);
        }
        else if (!Object.prototype.hasOwnProperty.call(map, key)) {
            Object.defineProperty(map, key, {
                value,
                writable: true,
                enumerable: true,
                configurable: true
            });
        }
    }
    return map;
}
function resolveAliasValue(ctx, value) {
    return ctx && identity.isAlias(value) ? value.resolve(ctx.doc, ctx) : value;
}

exports.addMergeToJSMap = addMergeToJSMap;
exports.isMergeKey = isMergeKey;
exports.merge = merge;


/***/ }),

/***/ 303:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var identity = __nccwpck_require__(1127);
var toJS = __nccwpck_require__(4043);
var YAMLMap = __nccwpck_require__(4454);
var YAMLSeq = __nccwpck_require__(2223);
var pairs = __nccwpck_require__(8385);

class YAMLOMap extends YAMLSeq.YAMLSeq {
    constructor() {
        super();
        this.add = YAMLMap.YAMLMap.prototype.add.bind(this);
        this.delete = YAMLMap.YAMLMap.prototype.delete.bind(this);
        this.get = YAMLMap.YAMLMap.prototype.get.bind(this);
        this.has = YAMLMap.YAMLMap.prototype.has.bind(this);
        this.set = YAMLMap.YAMLMap.prototype.set.bind(this);
        this.tag = YAMLOMap.tag;
    }
    /**
     * If `ctx` is given, the return type is actually `Map<unknown, unknown>`,
     * but TypeScript won't allow widening the signature of a child method.
     */
    toJSON(_, ctx) {
        if (!ctx)
            return super.toJSON(_);
        const map = new Map();
        if (ctx?.onCreate)
            ctx.onCreate(map);
        for (const pair of this.items) {
            let key, value;
            if (identity.isPair(pair)) {
                key = toJS.toJS(pair.key, '', ctx);
                value = toJS.toJS(pair.value, key, ctx);
            }
            else {
                key = toJS.toJS(pair, '', ctx);
            }
            if (map.has(key))
                throw new Error('Ordered maps must not include duplicate keys');
            map.set(key, value);
        }
        return map;
    }
    static from(schema, iterable, ctx) {
        const pairs$1 = pairs.createPairs(schema, iterable, ctx);
        const omap = new this();
        omap.items = pairs$1.items;
        return omap;
    }
}
YAMLOMap.tag = 'tag:yaml.org,2002:omap';
const omap = {
    collection: 'seq',
    identify: value => value instanceof Map,
    nodeClass: YAMLOMap,
    default: false,
    tag: 'tag:yaml.org,2002:omap',
    resolve(seq, onError) {
        const pairs$1 = pairs.resolvePairs(seq, onError);
        const seenKeys = [];
        for (const { key } of pairs$1.items) {
            if (identity.isScalar(key)) {
                if (seenKeys.includes(key.value)) {
                    onError(`Ordered maps must not include duplicate keys: ${key.value}`);
                }
                else {
                    seenKeys.push(key.value);
                }
            }
        }
        return Object.assign(new YAMLOMap(), pairs$1);
    },
    createNode: (schema, iterable, ctx) => YAMLOMap.from(schema, iterable, ctx)
};

exports.YAMLOMap = YAMLOMap;
exports.omap = omap;


/***/ }),

/***/ 8385:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var identity = __nccwpck_require__(1127);
var Pair = __nccwpck_require__(7165);
var Scalar = __nccwpck_require__(3301);
var YAMLSeq = __nccwpck_require__(2223);

function resolvePairs(seq, onError) {
    if (identity.isSeq(seq)) {
        for (let i = 0; i < seq.items.length; ++i) {
            let item = seq.items[i];
            if (identity.isPair(item))
                continue;
            else if (identity.isMap(item)) {
                if (item.items.length > 1)
                    onError('Each pair must have its own sequence indicator');
                const pair = item.items[0] || new Pair.Pair(new Scalar.Scalar(null));
                if (item.commentBefore)
                    pair.key.commentBefore = pair.key.commentBefore
                        ? `${item.commentBefore}\n${pair.key.commentBefore}`
                        : item.commentBefore;
                if (item.comment) {
                    const cn = pair.value ?? pair.key;
                    cn.comment = cn.comment
                        ? `${item.comment}\n${cn.comment}`
                        : item.comment;
                }
                item = pair;
            }
            seq.items[i] = identity.isPair(item) ? item : new Pair.Pair(item);
        }
    }
    else
        onError('Expected a sequence for this tag');
    return seq;
}
function createPairs(schema, iterable, ctx) {
    const { replacer } = ctx;
    const pairs = new YAMLSeq.YAMLSeq(schema);
    pairs.tag = 'tag:yaml.org,2002:pairs';
    let i = 0;
    if (iterable && Symbol.iterator in Object(iterable))
        for (let it of iterable) {
            if (typeof replacer === 'function')
                it = replacer.call(iterable, String(i++), it);
            let key, value;
            if (Array.isArray(it)) {
                if (it.length === 2) {
                    key = it[0];
                    value = it[1];
                }
                else
                    throw new TypeError(`Expected [key, value] tuple: ${it}`);
            }
            else if (it && it instanceof Object) {
                const keys = Object.keys(it);
                if (keys.length === 1) {
                    key = keys[0];
                    value = it[key];
                }
                else {
                    throw new TypeError(`Expected tuple with one key, not ${keys.length} keys`);
                }
            }
            else {
                key = it;
            }
            pairs.items.push(Pair.createPair(key, value, ctx));
        }
    return pairs;
}
const pairs = {
    collection: 'seq',
    default: false,
    tag: 'tag:yaml.org,2002:pairs',
    resolve: resolvePairs,
    createNode: createPairs
};

exports.createPairs = createPairs;
exports.pairs = pairs;
exports.resolvePairs = resolvePairs;


/***/ }),

/***/ 5913:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var map = __nccwpck_require__(7451);
var _null = __nccwpck_require__(3632);
var seq = __nccwpck_require__(1706);
var string = __nccwpck_require__(6464);
var binary = __nccwpck_require__(6083);
var bool = __nccwpck_require__(8398);
var float = __nccwpck_require__(5782);
var int = __nccwpck_require__(873);
var merge = __nccwpck_require__(452);
var omap = __nccwpck_require__(303);
var pairs = __nccwpck_require__(8385);
var set = __nccwpck_require__(1528);
var timestamp = __nccwpck_require__(6752);

const schema = [
    map.map,
    seq.seq,
    string.string,
    _null.nullTag,
    bool.trueTag,
    bool.falseTag,
    int.intBin,
    int.intOct,
    int.int,
    int.intHex,
    float.floatNaN,
    float.floatExp,
    float.float,
    binary.binary,
    merge.merge,
    omap.omap,
    pairs.pairs,
    set.set,
    timestamp.intTime,
    timestamp.floatTime,
    timestamp.timestamp
];

exports.schema = schema;


/***/ }),

/***/ 1528:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var identity = __nccwpck_require__(1127);
var Pair = __nccwpck_require__(7165);
var YAMLMap = __nccwpck_require__(4454);

class YAMLSet extends YAMLMap.YAMLMap {
    constructor(schema) {
        super(schema);
        this.tag = YAMLSet.tag;
    }
    add(key) {
        let pair;
        if (identity.isPair(key))
            pair = key;
        else if (key &&
            typeof key === 'object' &&
            'key' in key &&
            'value' in key &&
            key.value === null)
            pair = new Pair.Pair(key.key, null);
        else
            pair = new Pair.Pair(key, null);
        const prev = YAMLMap.findPair(this.items, pair.key);
        if (!prev)
            this.items.push(pair);
    }
    /**
     * If `keepPair` is `true`, returns the Pair matching `key`.
     * Otherwise, returns the value of that Pair's key.
     */
    get(key, keepPair) {
        const pair = YAMLMap.findPair(this.items, key);
        return !keepPair && identity.isPair(pair)
            ? identity.isScalar(pair.key)
                ? pair.key.value
                : pair.key
            : pair;
    }
    set(key, value) {
        if (typeof value !== 'boolean')
            throw new Error(`Expected boolean value for set(key, value) in a YAML set, not ${typeof value}`);
        const prev = YAMLMap.findPair(this.items, key);
        if (prev && !value) {
            this.items.splice(this.items.indexOf(prev), 1);
        }
        else if (!prev && value) {
            this.items.push(new Pair.Pair(key));
        }
    }
    toJSON(_, ctx) {
        return super.toJSON(_, ctx, Set);
    }
    toString(ctx, onComment, onChompKeep) {
        if (!ctx)
            return JSON.stringify(this);
        if (this.hasAllNullValues(true))
            return super.toString(Object.assign({}, ctx, { allNullValues: true }), onComment, onChompKeep);
        else
            throw new Error('Set items must all have null values');
    }
    static from(schema, iterable, ctx) {
        const { replacer } = ctx;
        const set = new this(schema);
        if (iterable && Symbol.iterator in Object(iterable))
            for (let value of iterable) {
                if (typeof replacer === 'function')
                    value = replacer.call(iterable, value, value);
                set.items.push(Pair.createPair(value, null, ctx));
            }
        return set;
    }
}
YAMLSet.tag = 'tag:yaml.org,2002:set';
const set = {
    collection: 'map',
    identify: value => value instanceof Set,
    nodeClass: YAMLSet,
    default: false,
    tag: 'tag:yaml.org,2002:set',
    createNode: (schema, iterable, ctx) => YAMLSet.from(schema, iterable, ctx),
    resolve(map, onError) {
        if (identity.isMap(map)) {
            if (map.hasAllNullValues(true))
                return Object.assign(new YAMLSet(), map);
            else
                onError('Set items must all have null values');
        }
        else
            onError('Expected a mapping for this tag');
        return map;
    }
};

exports.YAMLSet = YAMLSet;
exports.set = set;


/***/ }),

/***/ 6752:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var stringifyNumber = __nccwpck_require__(8689);

/** Internal types handle bigint as number, because TS can't figure it out. */
function parseSexagesimal(str, asBigInt) {
    const sign = str[0];
    const parts = sign === '-' || sign === '+' ? str.substring(1) : str;
    const num = (n) => asBigInt ? BigInt(n) : Number(n);
    const res = parts
        .replace(/_/g, '')
        .split(':')
        .reduce((res, p) => res * num(60) + num(p), num(0));
    return (sign === '-' ? num(-1) * res : res);
}
/**
 * hhhh:mm:ss.sss
 *
 * Internal types handle bigint as number, because TS can't figure it out.
 */
function stringifySexagesimal(node) {
    let { value } = node;
    let num = (n) => n;
    if (typeof value === 'bigint')
        num = n => BigInt(n);
    else if (isNaN(value) || !isFinite(value))
        return stringifyNumber.stringifyNumber(node);
    let sign = '';
    if (value < 0) {
        sign = '-';
        value *= num(-1);
    }
    const _60 = num(60);
    const parts = [value % _60]; // seconds, including ms
    if (value < 60) {
        parts.unshift(0); // at least one : is required
    }
    else {
        value = (value - parts[0]) / _60;
        parts.unshift(value % _60); // minutes
        if (value >= 60) {
            value = (value - parts[0]) / _60;
            parts.unshift(value); // hours
        }
    }
    return (sign +
        parts
            .map(n => String(n).padStart(2, '0'))
            .join(':')
            .replace(/000000\d*$/, '') // % 60 may introduce error
    );
}
const intTime = {
    identify: value => typeof value === 'bigint' || Number.isInteger(value),
    default: true,
    tag: 'tag:yaml.org,2002:int',
    format: 'TIME',
    test: /^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+$/,
    resolve: (str, _onError, { intAsBigInt }) => parseSexagesimal(str, intAsBigInt),
    stringify: stringifySexagesimal
};
const floatTime = {
    identify: value => typeof value === 'number',
    default: true,
    tag: 'tag:yaml.org,2002:float',
    format: 'TIME',
    test: /^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*$/,
    resolve: str => parseSexagesimal(str, false),
    stringify: stringifySexagesimal
};
const timestamp = {
    identify: value => value instanceof Date,
    default: true,
    tag: 'tag:yaml.org,2002:timestamp',
    // If the time zone is omitted, the timestamp is assumed to be specified in UTC. The time part
    // may be omitted altogether, resulting in a date format. In such a case, the time part is
    // assumed to be 00:00:00Z (start of day, UTC).
    test: RegExp('^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})' + // YYYY-Mm-Dd
        '(?:' + // time is optional
        '(?:t|T|[ \\t]+)' + // t | T | whitespace
        '([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2}(\\.[0-9]+)?)' + // Hh:Mm:Ss(.ss)?
        '(?:[ \\t]*(Z|[-+][012]?[0-9](?::[0-9]{2})?))?' + // Z | +5 | -03:30
        ')?$'),
    resolve(str) {
        const match = str.match(timestamp.test);
        if (!match)
            throw new Error('!!timestamp expects a date, starting with yyyy-mm-dd');
        const [, year, month, day, hour, minute, second] = match.map(Number);
        const millisec = match[7] ? Number((match[7] + '00').substr(1, 3)) : 0;
        let date = Date.UTC(year, month - 1, day, hour || 0, minute || 0, second || 0, millisec);
        const tz = match[8];
        if (tz && tz !== 'Z') {
            let d = parseSexagesimal(tz, false);
            if (Math.abs(d) < 30)
                d *= 60;
            date -= 60000 * d;
        }
        return new Date(date);
    },
    stringify: ({ value }) => value?.toISOString().replace(/(T00:00:00)?\.000Z$/, '') ?? ''
};

exports.floatTime = floatTime;
exports.intTime = intTime;
exports.timestamp = timestamp;


/***/ }),

/***/ 4475:
/***/ ((__unused_webpack_module, exports) => {



const FOLD_FLOW = 'flow';
const FOLD_BLOCK = 'block';
const FOLD_QUOTED = 'quoted';
/**
 * Tries to keep input at up to `lineWidth` characters, splitting only on spaces
 * not followed by newlines or spaces unless `mode` is `'quoted'`. Lines are
 * terminated with `\n` and started with `indent`.
 */
function foldFlowLines(text, indent, mode = 'flow', { indentAtStart, lineWidth = 80, minContentWidth = 20, onFold, onOverflow } = {}) {
    if (!lineWidth || lineWidth < 0)
        return text;
    if (lineWidth < minContentWidth)
        minContentWidth = 0;
    const endStep = Math.max(1 + minContentWidth, 1 + lineWidth - indent.length);
    if (text.length <= endStep)
        return text;
    const folds = [];
    const escapedFolds = {};
    let end = lineWidth - indent.length;
    if (typeof indentAtStart === 'number') {
        if (indentAtStart > lineWidth - Math.max(2, minContentWidth))
            folds.push(0);
        else
            end = lineWidth - indentAtStart;
    }
    let split = undefined;
    let prev = undefined;
    let overflow = false;
    let i = -1;
    let escStart = -1;
    let escEnd = -1;
    if (mode === FOLD_BLOCK) {
        i = consumeMoreIndentedLines(text, i, indent.length);
        if (i !== -1)
            end = i + endStep;
    }
    for (let ch; (ch = text[(i += 1)]);) {
        if (mode === FOLD_QUOTED && ch === '\\') {
            escStart = i;
            switch (text[i + 1]) {
                case 'x':
                    i += 3;
                    break;
                case 'u':
                    i += 5;
                    break;
                case 'U':
                    i += 9;
                    break;
                default:
                    i += 1;
            }
            escEnd = i;
        }
        if (ch === '\n') {
            if (mode === FOLD_BLOCK)
                i = consumeMoreIndentedLines(text, i, indent.length);
            end = i + indent.length + endStep;
            split = undefined;
        }
        else {
            if (ch === ' ' &&
                prev &&
                prev !== ' ' &&
                prev !== '\n' &&
                prev !== '\t') {
                // space surrounded by non-space can be replaced with newline + indent
                const next = text[i + 1];
                if (next && next !== ' ' && next !== '\n' && next !== '\t')
                    split = i;
            }
            if (i >= end) {
                if (split) {
                    folds.push(split);
                    end = split + endStep;
                    split = undefined;
                }
                else if (mode === FOLD_QUOTED) {
                    // white-space collected at end may stretch past lineWidth
                    while (prev === ' ' || prev === '\t') {
                        prev = ch;
                        ch = text[(i += 1)];
                        overflow = true;
                    }
                    // Account for newline escape, but don't break preceding escape
                    const j = i > escEnd + 1 ? i - 2 : escStart - 1;
                    // Bail out if lineWidth & minContentWidth are shorter than an escape string
                    if (escapedFolds[j])
                        return text;
                    folds.push(j);
                    escapedFolds[j] = true;
                    end = j + endStep;
                    split = undefined;
                }
                else {
                    overflow = true;
                }
            }
        }
        prev = ch;
    }
    if (overflow && onOverflow)
        onOverflow();
    if (folds.length === 0)
        return text;
    if (onFold)
        onFold();
    let res = text.slice(0, folds[0]);
    for (let i = 0; i < folds.length; ++i) {
        const fold = folds[i];
        const end = folds[i + 1] || text.length;
        if (fold === 0)
            res = `\n${indent}${text.slice(0, end)}`;
        else {
            if (mode === FOLD_QUOTED && escapedFolds[fold])
                res += `${text[fold]}\\`;
            res += `\n${indent}${text.slice(fold + 1, end)}`;
        }
    }
    return res;
}
/**
 * Presumes `i + 1` is at the start of a line
 * @returns index of last newline in more-indented block
 */
function consumeMoreIndentedLines(text, i, indent) {
    let end = i;
    let start = i + 1;
    let ch = text[start];
    while (ch === ' ' || ch === '\t') {
        if (i < start + indent) {
            ch = text[++i];
        }
        else {
            do {
                ch = text[++i];
            } while (ch && ch !== '\n');
            end = i;
            start = i + 1;
            ch = text[start];
        }
    }
    return end;
}

exports.FOLD_BLOCK = FOLD_BLOCK;
exports.FOLD_FLOW = FOLD_FLOW;
exports.FOLD_QUOTED = FOLD_QUOTED;
exports.foldFlowLines = foldFlowLines;


/***/ }),

/***/ 2148:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var anchors = __nccwpck_require__(1596);
var identity = __nccwpck_require__(1127);
var stringifyComment = __nccwpck_require__(9799);
var stringifyString = __nccwpck_require__(3069);

function createStringifyContext(doc, options) {
    const opt = Object.assign({
        blockQuote: true,
        commentString: stringifyComment.stringifyComment,
        defaultKeyType: null,
        defaultStringType: 'PLAIN',
        directives: null,
        doubleQuotedAsJSON: false,
        doubleQuotedMinMultiLineLength: 40,
        falseStr: 'false',
        flowCollectionPadding: true,
        indentSeq: true,
        lineWidth: 80,
        minContentWidth: 20,
        nullStr: 'null',
        simpleKeys: false,
        singleQuote: null,
        trailingComma: false,
        trueStr: 'true',
        verifyAliasOrder: true
    }, doc.schema.toStringOptions, options);
    let inFlow;
    switch (opt.collectionStyle) {
        case 'block':
            inFlow = false;
            break;
        case 'flow':
            inFlow = true;
            break;
        default:
            inFlow = null;
    }
    return {
        anchors: new Set(),
        doc,
        flowCollectionPadding: opt.flowCollectionPadding ? ' ' : '',
        indent: '',
        indentStep: typeof opt.indent === 'number' ? ' '.repeat(opt.indent) : '  ',
        inFlow,
        options: opt
    };
}
function getTagObject(tags, item) {
    if (item.tag) {
        const match = tags.filter(t => t.tag === item.tag);
        if (match.length > 0)
            return match.find(t => t.format === item.format) ?? match[0];
    }
    let tagObj = undefined;
    let obj;
    if (identity.isScalar(item)) {
        obj = item.value;
        let match = tags.filter(t => t.identify?.(obj));
        if (match.length > 1) {
            const testMatch = match.filter(t => t.test);
            if (testMatch.length > 0)
                match = testMatch;
        }
        tagObj =
            match.find(t => t.format === item.format) ?? match.find(t => !t.format);
    }
    else {
        obj = item;
        tagObj = tags.find(t => t.nodeClass && obj instanceof t.nodeClass);
    }
    if (!tagObj) {
        const name = obj?.constructor?.name ?? (obj === null ? 'null' : typeof obj);
        throw new Error(`Tag not resolved for ${name} value`);
    }
    return tagObj;
}
// needs to be called before value stringifier to allow for circular anchor refs
function stringifyProps(node, tagObj, { anchors: anchors$1, doc }) {
    if (!doc.directives)
        return '';
    const props = [];
    const anchor = (identity.isScalar(node) || identity.isCollection(node)) && node.anchor;
    if (anchor && anchors.anchorIsValid(anchor)) {
        anchors$1.add(anchor);
        props.push(`&${anchor}`);
    }
    const tag = node.tag ?? (tagObj.default ? null : tagObj.tag);
    if (tag)
        props.push(doc.directives.tagString(tag));
    return props.join(' ');
}
function stringify(item, ctx, onComment, onChompKeep) {
    if (identity.isPair(item))
        return item.toString(ctx, onComment, onChompKeep);
    if (identity.isAlias(item)) {
        if (ctx.doc.directives)
            return item.toString(ctx);
        if (ctx.resolvedAliases?.has(item)) {
            throw new TypeError(`Cannot stringify circular structure without alias nodes`);
        }
        else {
            if (ctx.resolvedAliases)
                ctx.resolvedAliases.add(item);
            else
                ctx.resolvedAliases = new Set([item]);
            item = item.resolve(ctx.doc);
        }
    }
    let tagObj = undefined;
    const node = identity.isNode(item)
        ? item
        : ctx.doc.createNode(item, { onTagObj: o => (tagObj = o) });
    tagObj ?? (tagObj = getTagObject(ctx.doc.schema.tags, node));
    const props = stringifyProps(node, tagObj, ctx);
    if (props.length > 0)
        ctx.indentAtStart = (ctx.indentAtStart ?? 0) + props.length + 1;
    const str = typeof tagObj.stringify === 'function'
        ? tagObj.stringify(node, ctx, onComment, onChompKeep)
        : identity.isScalar(node)
            ? stringifyString.stringifyString(node, ctx, onComment, onChompKeep)
            : node.toString(ctx, onComment, onChompKeep);
    if (!props)
        return str;
    return identity.isScalar(node) || str[0] === '{' || str[0] === '['
        ? `${props} ${str}`
        : `${props}\n${ctx.indent}${str}`;
}

exports.createStringifyContext = createStringifyContext;
exports.stringify = stringify;


/***/ }),

/***/ 1212:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var identity = __nccwpck_require__(1127);
var stringify = __nccwpck_require__(2148);
var stringifyComment = __nccwpck_require__(9799);

function stringifyCollection(collection, ctx, options) {
    const flow = ctx.inFlow ?? collection.flow;
    const stringify = flow ? stringifyFlowCollection : stringifyBlockCollection;
    return stringify(collection, ctx, options);
}
function stringifyBlockCollection({ comment, items }, ctx, { blockItemPrefix, flowChars, itemIndent, onChompKeep, onComment }) {
    const { indent, options: { commentString } } = ctx;
    const itemCtx = Object.assign({}, ctx, { indent: itemIndent, type: null });
    let chompKeep = false; // flag for the preceding node's status
    const lines = [];
    for (let i = 0; i < items.length; ++i) {
        const item = items[i];
        let comment = null;
        if (identity.isNode(item)) {
            if (!chompKeep && item.spaceBefore)
                lines.push('');
            addCommentBefore(ctx, lines, item.commentBefore, chompKeep);
            if (item.comment)
                comment = item.comment;
        }
        else if (identity.isPair(item)) {
            const ik = identity.isNode(item.key) ? item.key : null;
            if (ik) {
                if (!chompKeep && ik.spaceBefore)
                    lines.push('');
                addCommentBefore(ctx, lines, ik.commentBefore, chompKeep);
            }
        }
        chompKeep = false;
        let str = stringify.stringify(item, itemCtx, () => (comment = null), () => (chompKeep = true));
        if (comment)
            str += stringifyComment.lineComment(str, itemIndent, commentString(comment));
        if (chompKeep && comment)
            chompKeep = false;
        lines.push(blockItemPrefix + str);
    }
    let str;
    if (lines.length === 0) {
        str = flowChars.start + flowChars.end;
    }
    else {
        str = lines[0];
        for (let i = 1; i < lines.length; ++i) {
            const line = lines[i];
            str += line ? `\n${indent}${line}` : '\n';
        }
    }
    if (comment) {
        str += '\n' + stringifyComment.indentComment(commentString(comment), indent);
        if (onComment)
            onComment();
    }
    else if (chompKeep && onChompKeep)
        onChompKeep();
    return str;
}
function stringifyFlowCollection({ items }, ctx, { flowChars, itemIndent }) {
    const { indent, indentStep, flowCollectionPadding: fcPadding, options: { commentString } } = ctx;
    itemIndent += indentStep;
    const itemCtx = Object.assign({}, ctx, {
        indent: itemIndent,
        inFlow: true,
        type: null
    });
    let reqNewline = false;
    let linesAtValue = 0;
    const lines = [];
    for (let i = 0; i < items.length; ++i) {
        const item = items[i];
        let comment = null;
        if (identity.isNode(item)) {
            if (item.spaceBefore)
                lines.push('');
            addCommentBefore(ctx, lines, item.commentBefore, false);
            if (item.comment)
                comment = item.comment;
        }
        else if (identity.isPair(item)) {
            const ik = identity.isNode(item.key) ? item.key : null;
            if (ik) {
                if (ik.spaceBefore)
                    lines.push('');
                addCommentBefore(ctx, lines, ik.commentBefore, false);
                if (ik.comment)
                    reqNewline = true;
            }
            const iv = identity.isNode(item.value) ? item.value : null;
            if (iv) {
                if (iv.comment)
                    comment = iv.comment;
                if (iv.commentBefore)
                    reqNewline = true;
            }
            else if (item.value == null && ik?.comment) {
                comment = ik.comment;
            }
        }
        if (comment)
            reqNewline = true;
        let str = stringify.stringify(item, itemCtx, () => (comment = null));
        reqNewline || (reqNewline = lines.length > linesAtValue || str.includes('\n'));
        if (i < items.length - 1) {
            str += ',';
        }
        else if (ctx.options.trailingComma) {
            if (ctx.options.lineWidth > 0) {
                reqNewline || (reqNewline = lines.reduce((sum, line) => sum + line.length + 2, 2) +
                    (str.length + 2) >
                    ctx.options.lineWidth);
            }
            if (reqNewline) {
                str += ',';
            }
        }
        if (comment)
            str += stringifyComment.lineComment(str, itemIndent, commentString(comment));
        lines.push(str);
        linesAtValue = lines.length;
    }
    const { start, end } = flowChars;
    if (lines.length === 0) {
        return start + end;
    }
    else {
        if (!reqNewline) {
            const len = lines.reduce((sum, line) => sum + line.length + 2, 2);
            reqNewline = ctx.options.lineWidth > 0 && len > ctx.options.lineWidth;
        }
        if (reqNewline) {
            let str = start;
            for (const line of lines)
                str += line ? `\n${indentStep}${indent}${line}` : '\n';
            return `${str}\n${indent}${end}`;
        }
        else {
            return `${start}${fcPadding}${lines.join(' ')}${fcPadding}${end}`;
        }
    }
}
function addCommentBefore({ indent, options: { commentString } }, lines, comment, chompKeep) {
    if (comment && chompKeep)
        comment = comment.replace(/^\n+/, '');
    if (comment) {
        const ic = stringifyComment.indentComment(commentString(comment), indent);
        lines.push(ic.trimStart()); // Avoid double indent on first line
    }
}

exports.stringifyCollection = stringifyCollection;


/***/ }),

/***/ 9799:
/***/ ((__unused_webpack_module, exports) => {



/**
 * Stringifies a comment.
 *
 * Empty comment lines are left empty,
 * lines consisting of a single space are replaced by `#`,
 * and all other lines are prefixed with a `#`.
 */
const stringifyComment = (str) => str.replace(/^(?!$)(?: $)?/gm, '#');
function indentComment(comment, indent) {
    if (/^\n+$/.test(comment))
        return comment.substring(1);
    return indent ? comment.replace(/^(?! *$)/gm, indent) : comment;
}
const lineComment = (str, indent, comment) => str.endsWith('\n')
    ? indentComment(comment, indent)
    : comment.includes('\n')
        ? '\n' + indentComment(comment, indent)
        : (str.endsWith(' ') ? '' : ' ') + comment;

exports.indentComment = indentComment;
exports.lineComment = lineComment;
exports.stringifyComment = stringifyComment;


/***/ }),

/***/ 6829:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var identity = __nccwpck_require__(1127);
var stringify = __nccwpck_require__(2148);
var stringifyComment = __nccwpck_require__(9799);

function stringifyDocument(doc, options) {
    const lines = [];
    let hasDirectives = options.directives === true;
    if (options.directives !== false && doc.directives) {
        const dir = doc.directives.toString(doc);
        if (dir) {
            lines.push(dir);
            hasDirectives = true;
        }
        else if (doc.directives.docStart)
            hasDirectives = true;
    }
    if (hasDirectives)
        lines.push('---');
    const ctx = stringify.createStringifyContext(doc, options);
    const { commentString } = ctx.options;
    if (doc.commentBefore) {
        if (lines.length !== 1)
            lines.unshift('');
        const cs = commentString(doc.commentBefore);
        lines.unshift(stringifyComment.indentComment(cs, ''));
    }
    let chompKeep = false;
    let contentComment = null;
    if (doc.contents) {
        if (identity.isNode(doc.contents)) {
            if (doc.contents.spaceBefore && hasDirectives)
                lines.push('');
            if (doc.contents.commentBefore) {
                const cs = commentString(doc.contents.commentBefore);
                lines.push(stringifyComment.indentComment(cs, ''));
            }
            // top-level block scalars need to be indented if followed by a comment
            ctx.forceBlockIndent = !!doc.comment;
            contentComment = doc.contents.comment;
        }
        const onChompKeep = contentComment ? undefined : () => (chompKeep = true);
        let body = stringify.stringify(doc.contents, ctx, () => (contentComment = null), onChompKeep);
        if (contentComment)
            body += stringifyComment.lineComment(body, '', commentString(contentComment));
        if ((body[0] === '|' || body[0] === '>') &&
            lines[lines.length - 1] === '---') {
            // Top-level block scalars with a preceding doc marker ought to use the
            // same line for their header.
            lines[lines.length - 1] = `--- ${body}`;
        }
        else
            lines.push(body);
    }
    else {
        lines.push(stringify.stringify(doc.contents, ctx));
    }
    if (doc.directives?.docEnd) {
        if (doc.comment) {
            const cs = commentString(doc.comment);
            if (cs.includes('\n')) {
                lines.push('...');
                lines.push(stringifyComment.indentComment(cs, ''));
            }
            else {
                lines.push(`... ${cs}`);
            }
        }
        else {
            lines.push('...');
        }
    }
    else {
        let dc = doc.comment;
        if (dc && chompKeep)
            dc = dc.replace(/^\n+/, '');
        if (dc) {
            if ((!chompKeep || contentComment) && lines[lines.length - 1] !== '')
                lines.push('');
            lines.push(stringifyComment.indentComment(commentString(dc), ''));
        }
    }
    return lines.join('\n') + '\n';
}

exports.stringifyDocument = stringifyDocument;


/***/ }),

/***/ 8689:
/***/ ((__unused_webpack_module, exports) => {



function stringifyNumber({ format, minFractionDigits, tag, value }) {
    if (typeof value === 'bigint')
        return String(value);
    const num = typeof value === 'number' ? value : Number(value);
    if (!isFinite(num))
        return isNaN(num) ? '.nan' : num < 0 ? '-.inf' : '.inf';
    let n = Object.is(value, -0) ? '-0' : JSON.stringify(value);
    if (!format &&
        minFractionDigits &&
        (!tag || tag === 'tag:yaml.org,2002:float') &&
        /^-?\d/.test(n) &&
        !n.includes('e')) {
        let i = n.indexOf('.');
        if (i < 0) {
            i = n.length;
            n += '.';
        }
        let d = minFractionDigits - (n.length - i - 1);
        while (d-- > 0)
            n += '0';
    }
    return n;
}

exports.stringifyNumber = stringifyNumber;


/***/ }),

/***/ 9748:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var identity = __nccwpck_require__(1127);
var Scalar = __nccwpck_require__(3301);
var stringify = __nccwpck_require__(2148);
var stringifyComment = __nccwpck_require__(9799);

function stringifyPair({ key, value }, ctx, onComment, onChompKeep) {
    const { allNullValues, doc, indent, indentStep, options: { commentString, indentSeq, simpleKeys } } = ctx;
    let keyComment = (identity.isNode(key) && key.comment) || null;
    if (simpleKeys) {
        if (keyComment) {
            throw new Error('With simple keys, key nodes cannot have comments');
        }
        if (identity.isCollection(key) || (!identity.isNode(key) && typeof key === 'object')) {
            const msg = 'With simple keys, collection cannot be used as a key value';
            throw new Error(msg);
        }
    }
    let explicitKey = !simpleKeys &&
        (!key ||
            (keyComment && value == null && !ctx.inFlow) ||
            identity.isCollection(key) ||
            (identity.isScalar(key)
                ? key.type === Scalar.Scalar.BLOCK_FOLDED || key.type === Scalar.Scalar.BLOCK_LITERAL
                : typeof key === 'object'));
    ctx = Object.assign({}, ctx, {
        allNullValues: false,
        implicitKey: !explicitKey && (simpleKeys || !allNullValues),
        indent: indent + indentStep
    });
    let keyCommentDone = false;
    let chompKeep = false;
    let str = stringify.stringify(key, ctx, () => (keyCommentDone = true), () => (chompKeep = true));
    if (!explicitKey && !ctx.inFlow && str.length > 1024) {
        if (simpleKeys)
            throw new Error('With simple keys, single line scalar must not span more than 1024 characters');
        explicitKey = true;
    }
    if (ctx.inFlow) {
        if (allNullValues || value == null) {
            if (keyCommentDone && onComment)
                onComment();
            return str === '' ? '?' : explicitKey ? `? ${str}` : str;
        }
    }
    else if ((allNullValues && !simpleKeys) || (value == null && explicitKey)) {
        str = `? ${str}`;
        if (keyComment && !keyCommentDone) {
            str += stringifyComment.lineComment(str, ctx.indent, commentString(keyComment));
        }
        else if (chompKeep && onChompKeep)
            onChompKeep();
        return str;
    }
    if (keyCommentDone)
        keyComment = null;
    if (explicitKey) {
        if (keyComment)
            str += stringifyComment.lineComment(str, ctx.indent, commentString(keyComment));
        str = `? ${str}\n${indent}:`;
    }
    else {
        str = `${str}:`;
        if (keyComment)
            str += stringifyComment.lineComment(str, ctx.indent, commentString(keyComment));
    }
    let vsb, vcb, valueComment;
    if (identity.isNode(value)) {
        vsb = !!value.spaceBefore;
        vcb = value.commentBefore;
        valueComment = value.comment;
    }
    else {
        vsb = false;
        vcb = null;
        valueComment = null;
        if (value && typeof value === 'object')
            value = doc.createNode(value);
    }
    ctx.implicitKey = false;
    if (!explicitKey && !keyComment && identity.isScalar(value))
        ctx.indentAtStart = str.length + 1;
    chompKeep = false;
    if (!indentSeq &&
        indentStep.length >= 2 &&
        !ctx.inFlow &&
        !explicitKey &&
        identity.isSeq(value) &&
        !value.flow &&
        !value.tag &&
        !value.anchor) {
        // If indentSeq === false, consider '- ' as part of indentation where possible
        ctx.indent = ctx.indent.substring(2);
    }
    let valueCommentDone = false;
    const valueStr = stringify.stringify(value, ctx, () => (valueCommentDone = true), () => (chompKeep = true));
    let ws = ' ';
    if (keyComment || vsb || vcb) {
        ws = vsb ? '\n' : '';
        if (vcb) {
            const cs = commentString(vcb);
            ws += `\n${stringifyComment.indentComment(cs, ctx.indent)}`;
        }
        if (valueStr === '' && !ctx.inFlow) {
            if (ws === '\n' && valueComment)
                ws = '\n\n';
        }
        else {
            ws += `\n${ctx.indent}`;
        }
    }
    else if (!explicitKey && identity.isCollection(value)) {
        const vs0 = valueStr[0];
        const nl0 = valueStr.indexOf('\n');
        const hasNewline = nl0 !== -1;
        const flow = ctx.inFlow ?? value.flow ?? value.items.length === 0;
        if (hasNewline || !flow) {
            let hasPropsLine = false;
            if (hasNewline && (vs0 === '&' || vs0 === '!')) {
                let sp0 = valueStr.indexOf(' ');
                if (vs0 === '&' &&
                    sp0 !== -1 &&
                    sp0 < nl0 &&
                    valueStr[sp0 + 1] === '!') {
                    sp0 = valueStr.indexOf(' ', sp0 + 1);
                }
                if (sp0 === -1 || nl0 < sp0)
                    hasPropsLine = true;
            }
            if (!hasPropsLine)
                ws = `\n${ctx.indent}`;
        }
    }
    else if (valueStr === '' || valueStr[0] === '\n') {
        ws = '';
    }
    str += ws + valueStr;
    if (ctx.inFlow) {
        if (valueCommentDone && onComment)
            onComment();
    }
    else if (valueComment && !valueCommentDone) {
        str += stringifyComment.lineComment(str, ctx.indent, commentString(valueComment));
    }
    else if (chompKeep && onChompKeep) {
        onChompKeep();
    }
    return str;
}

exports.stringifyPair = stringifyPair;


/***/ }),

/***/ 3069:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var Scalar = __nccwpck_require__(3301);
var foldFlowLines = __nccwpck_require__(4475);

const getFoldOptions = (ctx, isBlock) => ({
    indentAtStart: isBlock ? ctx.indent.length : ctx.indentAtStart,
    lineWidth: ctx.options.lineWidth,
    minContentWidth: ctx.options.minContentWidth
});
// Also checks for lines starting with %, as parsing the output as YAML 1.1 will
// presume that's starting a new document.
const containsDocumentMarker = (str) => /^(%|---|\.\.\.)/m.test(str);
function lineLengthOverLimit(str, lineWidth, indentLength) {
    if (!lineWidth || lineWidth < 0)
        return false;
    const limit = lineWidth - indentLength;
    const strLen = str.length;
    if (strLen <= limit)
        return false;
    for (let i = 0, start = 0; i < strLen; ++i) {
        if (str[i] === '\n') {
            if (i - start > limit)
                return true;
            start = i + 1;
            if (strLen - start <= limit)
                return false;
        }
    }
    return true;
}
function doubleQuotedString(value, ctx) {
    const json = JSON.stringify(value);
    if (ctx.options.doubleQuotedAsJSON)
        return json;
    const { implicitKey } = ctx;
    const minMultiLineLength = ctx.options.doubleQuotedMinMultiLineLength;
    const indent = ctx.indent || (containsDocumentMarker(value) ? '  ' : '');
    let str = '';
    let start = 0;
    for (let i = 0, ch = json[i]; ch; ch = json[++i]) {
        if (ch === ' ' && json[i + 1] === '\\' && json[i + 2] === 'n') {
            // space before newline needs to be escaped to not be folded
            str += json.slice(start, i) + '\\ ';
            i += 1;
            start = i;
            ch = '\\';
        }
        if (ch === '\\')
            switch (json[i + 1]) {
                case 'u':
                    {
                        str += json.slice(start, i);
                        const code = json.substr(i + 2, 4);
                        switch (code) {
                            case '0000':
                                str += '\\0';
                                break;
                            case '0007':
                                str += '\\a';
                                break;
                            case '000b':
                                str += '\\v';
                                break;
                            case '001b':
                                str += '\\e';
                                break;
                            case '0085':
                                str += '\\N';
                                break;
                            case '00a0':
                                str += '\\_';
                                break;
                            case '2028':
                                str += '\\L';
                                break;
                            case '2029':
                                str += '\\P';
                                break;
                            default:
                                if (code.substr(0, 2) === '00')
                                    str += '\\x' + code.substr(2);
                                else
                                    str += json.substr(i, 6);
                        }
                        i += 5;
                        start = i + 1;
                    }
                    break;
                case 'n':
                    if (implicitKey ||
                        json[i + 2] === '"' ||
                        json.length < minMultiLineLength) {
                        i += 1;
                    }
                    else {
                        // folding will eat first newline
                        str += json.slice(start, i) + '\n\n';
                        while (json[i + 2] === '\\' &&
                            json[i + 3] === 'n' &&
                            json[i + 4] !== '"') {
                            str += '\n';
                            i += 2;
                        }
                        str += indent;
                        // space after newline needs to be escaped to not be folded
                        if (json[i + 2] === ' ')
                            str += '\\';
                        i += 1;
                        start = i + 1;
                    }
                    break;
                default:
                    i += 1;
            }
    }
    str = start ? str + json.slice(start) : json;
    return implicitKey
        ? str
        : foldFlowLines.foldFlowLines(str, indent, foldFlowLines.FOLD_QUOTED, getFoldOptions(ctx, false));
}
function singleQuotedString(value, ctx) {
    if (ctx.options.singleQuote === false ||
        (ctx.implicitKey && value.includes('\n')) ||
        /[ \t]\n|\n[ \t]/.test(value) // single quoted string can't have leading or trailing whitespace around newline
    )
        return doubleQuotedString(value, ctx);
    const indent = ctx.indent || (containsDocumentMarker(value) ? '  ' : '');
    const res = "'" + value.replace(/'/g, "''").replace(/\n+/g, `$&\n${indent}`) + "'";
    return ctx.implicitKey
        ? res
        : foldFlowLines.foldFlowLines(res, indent, foldFlowLines.FOLD_FLOW, getFoldOptions(ctx, false));
}
function quotedString(value, ctx) {
    const { singleQuote } = ctx.options;
    let qs;
    if (singleQuote === false)
        qs = doubleQuotedString;
    else {
        const hasDouble = value.includes('"');
        const hasSingle = value.includes("'");
        if (hasDouble && !hasSingle)
            qs = singleQuotedString;
        else if (hasSingle && !hasDouble)
            qs = doubleQuotedString;
        else
            qs = singleQuote ? singleQuotedString : doubleQuotedString;
    }
    return qs(value, ctx);
}
// The negative lookbehind avoids a polynomial search,
// but isn't supported yet on Safari: https://caniuse.com/js-regexp-lookbehind
let blockEndNewlines;
try {
    blockEndNewlines = new RegExp('(^|(?<!\n))\n+(?!\n|$)', 'g');
}
catch {
    blockEndNewlines = /\n+(?!\n|$)/g;
}
function blockString({ comment, type, value }, ctx, onComment, onChompKeep) {
    const { blockQuote, commentString, lineWidth } = ctx.options;
    // 1. Block can't end in whitespace unless the last line is non-empty.
    // 2. Strings consisting of only whitespace are best rendered explicitly.
    if (!blockQuote || /\n[\t ]+$/.test(value)) {
        return quotedString(value, ctx);
    }
    const indent = ctx.indent ||
        (ctx.forceBlockIndent || containsDocumentMarker(value) ? '  ' : '');
    const literal = blockQuote === 'literal'
        ? true
        : blockQuote === 'folded' || type === Scalar.Scalar.BLOCK_FOLDED
            ? false
            : type === Scalar.Scalar.BLOCK_LITERAL
                ? true
                : !lineLengthOverLimit(value, lineWidth, indent.length);
    if (!value)
        return literal ? '|\n' : '>\n';
    // determine chomping from whitespace at value end
    let chomp;
    let endStart;
    for (endStart = value.length; endStart > 0; --endStart) {
        const ch = value[endStart - 1];
        if (ch !== '\n' && ch !== '\t' && ch !== ' ')
            break;
    }
    let end = value.substring(endStart);
    const endNlPos = end.indexOf('\n');
    if (endNlPos === -1) {
        chomp = '-'; // strip
    }
    else if (value === end || endNlPos !== end.length - 1) {
        chomp = '+'; // keep
        if (onChompKeep)
            onChompKeep();
    }
    else {
        chomp = ''; // clip
    }
    if (end) {
        value = value.slice(0, -end.length);
        if (end[end.length - 1] === '\n')
            end = end.slice(0, -1);
        end = end.replace(blockEndNewlines, `$&${indent}`);
    }
    // determine indent indicator from whitespace at value start
    let startWithSpace = false;
    let startEnd;
    let startNlPos = -1;
    for (startEnd = 0; startEnd < value.length; ++startEnd) {
        const ch = value[startEnd];
        if (ch === ' ')
            startWithSpace = true;
        else if (ch === '\n')
            startNlPos = startEnd;
        else
            break;
    }
    let start = value.substring(0, startNlPos < startEnd ? startNlPos + 1 : startEnd);
    if (start) {
        value = value.substring(start.length);
        start = start.replace(/\n+/g, `$&${indent}`);
    }
    const indentSize = indent ? '2' : '1'; // root is at -1
    // Leading | or > is added later
    let header = (startWithSpace ? indentSize : '') + chomp;
    if (comment) {
        header += ' ' + commentString(comment.replace(/ ?[\r\n]+/g, ' '));
        if (onComment)
            onComment();
    }
    if (!literal) {
        const foldedValue = value
            .replace(/\n+/g, '\n$&')
            .replace(/(?:^|\n)([\t ].*)(?:([\n\t ]*)\n(?![\n\t ]))?/g, '$1$2') // more-indented lines aren't folded
            //                ^ more-ind. ^ empty     ^ capture next empty lines only at end of indent
            .replace(/\n+/g, `$&${indent}`);
        let literalFallback = false;
        const foldOptions = getFoldOptions(ctx, true);
        if (blockQuote !== 'folded' && type !== Scalar.Scalar.BLOCK_FOLDED) {
            foldOptions.onOverflow = () => {
                literalFallback = true;
            };
        }
        const body = foldFlowLines.foldFlowLines(`${start}${foldedValue}${end}`, indent, foldFlowLines.FOLD_BLOCK, foldOptions);
        if (!literalFallback)
            return `>${header}\n${indent}${body}`;
    }
    value = value.replace(/\n+/g, `$&${indent}`);
    return `|${header}\n${indent}${start}${value}${end}`;
}
function plainString(item, ctx, onComment, onChompKeep) {
    const { type, value } = item;
    const { actualString, implicitKey, indent, indentStep, inFlow } = ctx;
    if ((implicitKey && value.includes('\n')) ||
        (inFlow && /[[\]{},]/.test(value))) {
        return quotedString(value, ctx);
    }
    if (/^[\n\t ,[\]{}#&*!|>'"%@`]|^[?-]$|^[?-][ \t]|[\n:][ \t]|[ \t]\n|[\n\t ]#|[\n\t :]$/.test(value)) {
        // not allowed:
        // - '-' or '?'
        // - start with an indicator character (except [?:-]) or /[?-] /
        // - '\n ', ': ' or ' \n' anywhere
        // - '#' not preceded by a non-space char
        // - end with ' ' or ':'
        return implicitKey || inFlow || !value.includes('\n')
            ? quotedString(value, ctx)
            : blockString(item, ctx, onComment, onChompKeep);
    }
    if (!implicitKey &&
        !inFlow &&
        type !== Scalar.Scalar.PLAIN &&
        value.includes('\n')) {
        // Where allowed & type not set explicitly, prefer block style for multiline strings
        return blockString(item, ctx, onComment, onChompKeep);
    }
    if (containsDocumentMarker(value)) {
        if (indent === '') {
            ctx.forceBlockIndent = true;
            return blockString(item, ctx, onComment, onChompKeep);
        }
        else if (implicitKey && indent === indentStep) {
            return quotedString(value, ctx);
        }
    }
    const str = value.replace(/\n+/g, `$&\n${indent}`);
    // Verify that output will be parsed as a string, as e.g. plain numbers and
    // booleans get parsed with those types in v1.2 (e.g. '42', 'true' & '0.9e-3'),
    // and others in v1.1.
    if (actualString) {
        const test = (tag) => tag.default && tag.tag !== 'tag:yaml.org,2002:str' && tag.test?.test(str);
        const { compat, tags } = ctx.doc.schema;
        if (tags.some(test) || compat?.some(test))
            return quotedString(value, ctx);
    }
    return implicitKey
        ? str
        : foldFlowLines.foldFlowLines(str, indent, foldFlowLines.FOLD_FLOW, getFoldOptions(ctx, false));
}
function stringifyString(item, ctx, onComment, onChompKeep) {
    const { implicitKey, inFlow } = ctx;
    const ss = typeof item.value === 'string'
        ? item
        : Object.assign({}, item, { value: String(item.value) });
    let { type } = item;
    if (type !== Scalar.Scalar.QUOTE_DOUBLE) {
        // force double quotes on control characters & unpaired surrogates
        if (/[\x00-\x08\x0b-\x1f\x7f-\x9f\u{D800}-\u{DFFF}]/u.test(ss.value))
            type = Scalar.Scalar.QUOTE_DOUBLE;
    }
    const _stringify = (_type) => {
        switch (_type) {
            case Scalar.Scalar.BLOCK_FOLDED:
            case Scalar.Scalar.BLOCK_LITERAL:
                return implicitKey || inFlow
                    ? quotedString(ss.value, ctx) // blocks are not valid inside flow containers
                    : blockString(ss, ctx, onComment, onChompKeep);
            case Scalar.Scalar.QUOTE_DOUBLE:
                return doubleQuotedString(ss.value, ctx);
            case Scalar.Scalar.QUOTE_SINGLE:
                return singleQuotedString(ss.value, ctx);
            case Scalar.Scalar.PLAIN:
                return plainString(ss, ctx, onComment, onChompKeep);
            default:
                return null;
        }
    };
    let res = _stringify(type);
    if (res === null) {
        const { defaultKeyType, defaultStringType } = ctx.options;
        const t = (implicitKey && defaultKeyType) || defaultStringType;
        res = _stringify(t);
        if (res === null)
            throw new Error(`Unsupported default string type ${t}`);
    }
    return res;
}

exports.stringifyString = stringifyString;


/***/ }),

/***/ 204:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {



var identity = __nccwpck_require__(1127);

const BREAK = Symbol('break visit');
const SKIP = Symbol('skip children');
const REMOVE = Symbol('remove node');
/**
 * Apply a visitor to an AST node or document.
 *
 * Walks through the tree (depth-first) starting from `node`, calling a
 * `visitor` function with three arguments:
 *   - `key`: For sequence values and map `Pair`, the node's index in the
 *     collection. Within a `Pair`, `'key'` or `'value'`, correspondingly.
 *     `null` for the root node.
 *   - `node`: The current node.
 *   - `path`: The ancestry of the current node.
 *
 * The return value of the visitor may be used to control the traversal:
 *   - `undefined` (default): Do nothing and continue
 *   - `visit.SKIP`: Do not visit the children of this node, continue with next
 *     sibling
 *   - `visit.BREAK`: Terminate traversal completely
 *   - `visit.REMOVE`: Remove the current node, then continue with the next one
 *   - `Node`: Replace the current node, then continue by visiting it
 *   - `number`: While iterating the items of a sequence or map, set the index
 *     of the next step. This is useful especially if the index of the current
 *     node has changed.
 *
 * If `visitor` is a single function, it will be called with all values
 * encountered in the tree, including e.g. `null` values. Alternatively,
 * separate visitor functions may be defined for each `Map`, `Pair`, `Seq`,
 * `Alias` and `Scalar` node. To define the same visitor function for more than
 * one node type, use the `Collection` (map and seq), `Value` (map, seq & scalar)
 * and `Node` (alias, map, seq & scalar) targets. Of all these, only the most
 * specific defined one will be used for each node.
 */
function visit(node, visitor) {
    const visitor_ = initVisitor(visitor);
    if (identity.isDocument(node)) {
        const cd = visit_(null, node.contents, visitor_, Object.freeze([node]));
        if (cd === REMOVE)
            node.contents = null;
    }
    else
        visit_(null, node, visitor_, Object.freeze([]));
}
// Without the `as symbol` casts, TS declares these in the `visit`
// namespace using `var`, but then complains about that because
// `unique symbol` must be `const`.
/** Terminate visit traversal completely */
visit.BREAK = BREAK;
/** Do not visit the children of the current node */
visit.SKIP = SKIP;
/** Remove the current node */
visit.REMOVE = REMOVE;
function visit_(key, node, visitor, path) {
    const ctrl = callVisitor(key, node, visitor, path);
    if (identity.isNode(ctrl) || identity.isPair(ctrl)) {
        replaceNode(key, path, ctrl);
        return visit_(key, ctrl, visitor, path);
    }
    if (typeof ctrl !== 'symbol') {
        if (identity.isCollection(node)) {
            path = Object.freeze(path.concat(node));
            for (let i = 0; i < node.items.length; ++i) {
                const ci = visit_(i, node.items[i], visitor, path);
                if (typeof ci === 'number')
                    i = ci - 1;
                else if (ci === BREAK)
                    return BREAK;
                else if (ci === REMOVE) {
                    node.items.splice(i, 1);
                    i -= 1;
                }
            }
        }
        else if (identity.isPair(node)) {
            path = Object.freeze(path.concat(node));
            const ck = visit_('key', node.key, visitor, path);
            if (ck === BREAK)
                return BREAK;
            else if (ck === REMOVE)
                node.key = null;
            const cv = visit_('value', node.value, visitor, path);
            if (cv === BREAK)
                return BREAK;
            else if (cv === REMOVE)
                node.value = null;
        }
    }
    return ctrl;
}
/**
 * Apply an async visitor to an AST node or document.
 *
 * Walks through the tree (depth-first) starting from `node`, calling a
 * `visitor` function with three arguments:
 *   - `key`: For sequence values and map `Pair`, the node's index in the
 *     collection. Within a `Pair`, `'key'` or `'value'`, correspondingly.
 *     `null` for the root node.
 *   - `node`: The current node.
 *   - `path`: The ancestry of the current node.
 *
 * The return value of the visitor may be used to control the traversal:
 *   - `Promise`: Must resolve to one of the following values
 *   - `undefined` (default): Do nothing and continue
 *   - `visit.SKIP`: Do not visit the children of this node, continue with next
 *     sibling
 *   - `visit.BREAK`: Terminate traversal completely
 *   - `visit.REMOVE`: Remove the current node, then continue with the next one
 *   - `Node`: Replace the current node, then continue by visiting it
 *   - `number`: While iterating the items of a sequence or map, set the index
 *     of the next step. This is useful especially if the index of the current
 *     node has changed.
 *
 * If `visitor` is a single function, it will be called with all values
 * encountered in the tree, including e.g. `null` values. Alternatively,
 * separate visitor functions may be defined for each `Map`, `Pair`, `Seq`,
 * `Alias` and `Scalar` node. To define the same visitor function for more than
 * one node type, use the `Collection` (map and seq), `Value` (map, seq & scalar)
 * and `Node` (alias, map, seq & scalar) targets. Of all these, only the most
 * specific defined one will be used for each node.
 */
async function visitAsync(node, visitor) {
    const visitor_ = initVisitor(visitor);
    if (identity.isDocument(node)) {
        const cd = await visitAsync_(null, node.contents, visitor_, Object.freeze([node]));
        if (cd === REMOVE)
            node.contents = null;
    }
    else
        await visitAsync_(null, node, visitor_, Object.freeze([]));
}
// Without the `as symbol` casts, TS declares these in the `visit`
// namespace using `var`, but then complains about that because
// `unique symbol` must be `const`.
/** Terminate visit traversal completely */
visitAsync.BREAK = BREAK;
/** Do not visit the children of the current node */
visitAsync.SKIP = SKIP;
/** Remove the current node */
visitAsync.REMOVE = REMOVE;
async function visitAsync_(key, node, visitor, path) {
    const ctrl = await callVisitor(key, node, visitor, path);
    if (identity.isNode(ctrl) || identity.isPair(ctrl)) {
        replaceNode(key, path, ctrl);
        return visitAsync_(key, ctrl, visitor, path);
    }
    if (typeof ctrl !== 'symbol') {
        if (identity.isCollection(node)) {
            path = Object.freeze(path.concat(node));
            for (let i = 0; i < node.items.length; ++i) {
                const ci = await visitAsync_(i, node.items[i], visitor, path);
                if (typeof ci === 'number')
                    i = ci - 1;
                else if (ci === BREAK)
                    return BREAK;
                else if (ci === REMOVE) {
                    node.items.splice(i, 1);
                    i -= 1;
                }
            }
        }
        else if (identity.isPair(node)) {
            path = Object.freeze(path.concat(node));
            const ck = await visitAsync_('key', node.key, visitor, path);
            if (ck === BREAK)
                return BREAK;
            else if (ck === REMOVE)
                node.key = null;
            const cv = await visitAsync_('value', node.value, visitor, path);
            if (cv === BREAK)
                return BREAK;
            else if (cv === REMOVE)
                node.value = null;
        }
    }
    return ctrl;
}
function initVisitor(visitor) {
    if (typeof visitor === 'object' &&
        (visitor.Collection || visitor.Node || visitor.Value)) {
        return Object.assign({
            Alias: visitor.Node,
            Map: visitor.Node,
            Scalar: visitor.Node,
            Seq: visitor.Node
        }, visitor.Value && {
            Map: visitor.Value,
            Scalar: visitor.Value,
            Seq: visitor.Value
        }, visitor.Collection && {
            Map: visitor.Collection,
            Seq: visitor.Collection
        }, visitor);
    }
    return visitor;
}
function callVisitor(key, node, visitor, path) {
    if (typeof visitor === 'function')
        return visitor(key, node, path);
    if (identity.isMap(node))
        return visitor.Map?.(key, node, path);
    if (identity.isSeq(node))
        return visitor.Seq?.(key, node, path);
    if (identity.isPair(node))
        return visitor.Pair?.(key, node, path);
    if (identity.isScalar(node))
        return visitor.Scalar?.(key, node, path);
    if (identity.isAlias(node))
        return visitor.Alias?.(key, node, path);
    return undefined;
}
function replaceNode(key, path, node) {
    const parent = path[path.length - 1];
    if (identity.isCollection(parent)) {
        parent.items[key] = node;
    }
    else if (identity.isPair(parent)) {
        if (key === 'key')
            parent.key = node;
        else
            parent.value = node;
    }
    else if (identity.isDocument(parent)) {
        parent.contents = node;
    }
    else {
        const pt = identity.isAlias(parent) ? 'alias' : 'scalar';
        throw new Error(`Cannot replace node with ${pt} parent`);
    }
}

exports.visit = visit;
exports.visitAsync = visitAsync;


/***/ })

/******/ 	});
/************************************************************************/
/******/ 	// The module cache
/******/ 	var __webpack_module_cache__ = {};
/******/ 	
/******/ 	// The require function
/******/ 	function __nccwpck_require__(moduleId) {
/******/ 		// Check if module is in cache
/******/ 		var cachedModule = __webpack_module_cache__[moduleId];
/******/ 		if (cachedModule !== undefined) {
/******/ 			return cachedModule.exports;
/******/ 		}
/******/ 		// Create a new module (and put it into the cache)
/******/ 		var module = __webpack_module_cache__[moduleId] = {
/******/ 			// no module.id needed
/******/ 			// no module.loaded needed
/******/ 			exports: {}
/******/ 		};
/******/ 	
/******/ 		// Execute the module function
/******/ 		var threw = true;
/******/ 		try {
/******/ 			__webpack_modules__[moduleId].call(module.exports, module, module.exports, __nccwpck_require__);
/******/ 			threw = false;
/******/ 		} finally {
/******/ 			if(threw) delete __webpack_module_cache__[moduleId];
/******/ 		}
/******/ 	
/******/ 		// Return the exports of the module
/******/ 		return module.exports;
/******/ 	}
/******/ 	
/******/ 	// expose the modules object (__webpack_modules__)
/******/ 	__nccwpck_require__.m = __webpack_modules__;
/******/ 	
/************************************************************************/
/******/ 	/* webpack/runtime/asset-relocator-loader */
/******/ 	if (typeof __nccwpck_require__ !== 'undefined') __nccwpck_require__.ab = __dirname + "/";
/******/ 	
/******/ 	/* webpack/runtime/async module */
/******/ 	(() => {
/******/ 		var webpackQueues = typeof Symbol === "function" ? Symbol("webpack queues") : "__webpack_queues__";
/******/ 		var webpackExports = typeof Symbol === "function" ? Symbol("webpack exports") : "__webpack_exports__";
/******/ 		var webpackError = typeof Symbol === "function" ? Symbol("webpack error") : "__webpack_error__";
/******/ 		var resolveQueue = (queue) => {
/******/ 			if(queue && queue.d < 1) {
/******/ 				queue.d = 1;
/******/ 				queue.forEach((fn) => (fn.r--));
/******/ 				queue.forEach((fn) => (fn.r-- ? fn.r++ : fn()));
/******/ 			}
/******/ 		}
/******/ 		var wrapDeps = (deps) => (deps.map((dep) => {
/******/ 			if(dep !== null && typeof dep === "object") {
/******/ 				if(dep[webpackQueues]) return dep;
/******/ 				if(dep.then) {
/******/ 					var queue = [];
/******/ 					queue.d = 0;
/******/ 					dep.then((r) => {
/******/ 						obj[webpackExports] = r;
/******/ 						resolveQueue(queue);
/******/ 					}, (e) => {
/******/ 						obj[webpackError] = e;
/******/ 						resolveQueue(queue);
/******/ 					});
/******/ 					var obj = {};
/******/ 					obj[webpackQueues] = (fn) => (fn(queue));
/******/ 					return obj;
/******/ 				}
/******/ 			}
/******/ 			var ret = {};
/******/ 			ret[webpackQueues] = x => {};
/******/ 			ret[webpackExports] = dep;
/******/ 			return ret;
/******/ 		}));
/******/ 		__nccwpck_require__.a = (module, body, hasAwait) => {
/******/ 			var queue;
/******/ 			hasAwait && ((queue = []).d = -1);
/******/ 			var depQueues = new Set();
/******/ 			var exports = module.exports;
/******/ 			var currentDeps;
/******/ 			var outerResolve;
/******/ 			var reject;
/******/ 			var promise = new Promise((resolve, rej) => {
/******/ 				reject = rej;
/******/ 				outerResolve = resolve;
/******/ 			});
/******/ 			promise[webpackExports] = exports;
/******/ 			promise[webpackQueues] = (fn) => (queue && fn(queue), depQueues.forEach(fn), promise["catch"](x => {}));
/******/ 			module.exports = promise;
/******/ 			body((deps) => {
/******/ 				currentDeps = wrapDeps(deps);
/******/ 				var fn;
/******/ 				var getResult = () => (currentDeps.map((d) => {
/******/ 					if(d[webpackError]) throw d[webpackError];
/******/ 					return d[webpackExports];
/******/ 				}))
/******/ 				var promise = new Promise((resolve) => {
/******/ 					fn = () => (resolve(getResult));
/******/ 					fn.r = 0;
/******/ 					var fnQueue = (q) => (q !== queue && !depQueues.has(q) && (depQueues.add(q), q && !q.d && (fn.r++, q.push(fn))));
/******/ 					currentDeps.map((dep) => (dep[webpackQueues](fnQueue)));
/******/ 				});
/******/ 				return fn.r ? promise : getResult();
/******/ 			}, (err) => ((err ? reject(promise[webpackError] = err) : outerResolve(exports)), resolveQueue(queue)));
/******/ 			queue && queue.d < 0 && (queue.d = 0);
/******/ 		};
/******/ 	})();
/******/ 	
/******/ 	/* webpack/runtime/compat get default export */
/******/ 	(() => {
/******/ 		// getDefaultExport function for compatibility with non-harmony modules
/******/ 		__nccwpck_require__.n = (module) => {
/******/ 			var getter = module && module.__esModule ?
/******/ 				() => (module['default']) :
/******/ 				() => (module);
/******/ 			__nccwpck_require__.d(getter, { a: getter });
/******/ 			return getter;
/******/ 		};
/******/ 	})();
/******/ 	
/******/ 	/* webpack/runtime/create fake namespace object */
/******/ 	(() => {
/******/ 		var getProto = Object.getPrototypeOf ? (obj) => (Object.getPrototypeOf(obj)) : (obj) => (obj.__proto__);
/******/ 		var leafPrototypes;
/******/ 		// create a fake namespace object
/******/ 		// mode & 1: value is a module id, require it
/******/ 		// mode & 2: merge all properties of value into the ns
/******/ 		// mode & 4: return value when already ns object
/******/ 		// mode & 16: return value when it's Promise-like
/******/ 		// mode & 8|1: behave like require
/******/ 		__nccwpck_require__.t = function(value, mode) {
/******/ 			if(mode & 1) value = this(value);
/******/ 			if(mode & 8) return value;
/******/ 			if(typeof value === 'object' && value) {
/******/ 				if((mode & 4) && value.__esModule) return value;
/******/ 				if((mode & 16) && typeof value.then === 'function') return value;
/******/ 			}
/******/ 			var ns = Object.create(null);
/******/ 			__nccwpck_require__.r(ns);
/******/ 			var def = {};
/******/ 			leafPrototypes = leafPrototypes || [null, getProto({}), getProto([]), getProto(getProto)];
/******/ 			for(var current = mode & 2 && value; typeof current == 'object' && !~leafPrototypes.indexOf(current); current = getProto(current)) {
/******/ 				Object.getOwnPropertyNames(current).forEach((key) => (def[key] = () => (value[key])));
/******/ 			}
/******/ 			def['default'] = () => (value);
/******/ 			__nccwpck_require__.d(ns, def);
/******/ 			return ns;
/******/ 		};
/******/ 	})();
/******/ 	
/******/ 	/* webpack/runtime/define property getters */
/******/ 	(() => {
/******/ 		// define getter functions for harmony exports
/******/ 		__nccwpck_require__.d = (exports, definition) => {
/******/ 			for(var key in definition) {
/******/ 				if(__nccwpck_require__.o(definition, key) && !__nccwpck_require__.o(exports, key)) {
/******/ 					Object.defineProperty(exports, key, { enumerable: true, get: definition[key] });
/******/ 				}
/******/ 			}
/******/ 		};
/******/ 	})();
/******/ 	
/******/ 	/* webpack/runtime/ensure chunk */
/******/ 	(() => {
/******/ 		__nccwpck_require__.f = {};
/******/ 		// This file contains only the entry chunk.
/******/ 		// The chunk loading function for additional chunks
/******/ 		__nccwpck_require__.e = (chunkId) => {
/******/ 			return Promise.all(Object.keys(__nccwpck_require__.f).reduce((promises, key) => {
/******/ 				__nccwpck_require__.f[key](chunkId, promises);
/******/ 				return promises;
/******/ 			}, []));
/******/ 		};
/******/ 	})();
/******/ 	
/******/ 	/* webpack/runtime/get javascript chunk filename */
/******/ 	(() => {
/******/ 		// This function allow to reference async chunks
/******/ 		__nccwpck_require__.u = (chunkId) => {
/******/ 			// return url for filenames based on template
/******/ 			return "" + chunkId + ".index.js";
/******/ 		};
/******/ 	})();
/******/ 	
/******/ 	/* webpack/runtime/hasOwnProperty shorthand */
/******/ 	(() => {
/******/ 		__nccwpck_require__.o = (obj, prop) => (Object.prototype.hasOwnProperty.call(obj, prop))
/******/ 	})();
/******/ 	
/******/ 	/* webpack/runtime/make namespace object */
/******/ 	(() => {
/******/ 		// define __esModule on exports
/******/ 		__nccwpck_require__.r = (exports) => {
/******/ 			if(typeof Symbol !== 'undefined' && Symbol.toStringTag) {
/******/ 				Object.defineProperty(exports, Symbol.toStringTag, { value: 'Module' });
/******/ 			}
/******/ 			Object.defineProperty(exports, '__esModule', { value: true });
/******/ 		};
/******/ 	})();
/******/ 	
/******/ 	/* webpack/runtime/require chunk loading */
/******/ 	(() => {
/******/ 		// no baseURI
/******/ 		
/******/ 		// object to store loaded chunks
/******/ 		// "1" means "loaded", otherwise not loaded yet
/******/ 		var installedChunks = {
/******/ 			792: 1
/******/ 		};
/******/ 		
/******/ 		// no on chunks loaded
/******/ 		
/******/ 		var installChunk = (chunk) => {
/******/ 			var moreModules = chunk.modules, chunkIds = chunk.ids, runtime = chunk.runtime;
/******/ 			for(var moduleId in moreModules) {
/******/ 				if(__nccwpck_require__.o(moreModules, moduleId)) {
/******/ 					__nccwpck_require__.m[moduleId] = moreModules[moduleId];
/******/ 				}
/******/ 			}
/******/ 			if(runtime) runtime(__nccwpck_require__);
/******/ 			for(var i = 0; i < chunkIds.length; i++)
/******/ 				installedChunks[chunkIds[i]] = 1;
/******/ 		
/******/ 		};
/******/ 		
/******/ 		// require() chunk loading for javascript
/******/ 		__nccwpck_require__.f.require = (chunkId, promises) => {
/******/ 			// "1" is the signal for "already loaded"
/******/ 			if(!installedChunks[chunkId]) {
/******/ 				if(true) { // all chunks have JS
/******/ 					installChunk(require("./" + __nccwpck_require__.u(chunkId)));
/******/ 				} else installedChunks[chunkId] = 1;
/******/ 			}
/******/ 		};
/******/ 		
/******/ 		// no external install chunk
/******/ 		
/******/ 		// no HMR
/******/ 		
/******/ 		// no HMR manifest
/******/ 	})();
/******/ 	
/************************************************************************/
/******/ 	
/******/ 	// startup
/******/ 	// Load entry module and return exports
/******/ 	// This entry module used 'module' so it can't be inlined
/******/ 	var __webpack_exports__ = __nccwpck_require__(5581);
/******/ 	module.exports = __webpack_exports__;
/******/ 	
/******/ })()
;
//# sourceMappingURL=index.js.map