#!/usr/bin/env node
// Runs operations of the published n8n community node `n8n-nodes-evolution-api`
// against an HTTP server, with a fake n8n IExecuteFunctions (`ef`) standing in for n8n.
//
// stdin:  {"server_url": "http://127.0.0.1:1234/evolution", "apikey": "...",
//          "request_timeout_ms": 30000,                       (optional)
//          "calls": [{"operation": "instance/createInstanceBasic",
//                     "params": {"instanceName": "x"},
//                     "continue_on_fail": true}, ...]}         (optional, default true)
// stdout: [{"operation", "ok", "result", "items", "error", "requests", "responses",
//           "undisplayed_params"}, ...]
//
// Exit status: 0 whenever every call ran (failed calls are reported as data);
// 2 for harness errors (bad input, unknown operation, a gap in the fake). See README.md.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const axios = require('axios');
const { NodeHelpers } = require('n8n-workflow');

const NODE_DIR = path.join(__dirname, 'node_modules', 'n8n-nodes-evolution-api', 'dist', 'nodes', 'EvolutionApi');
const OPERATIONS_DIR = path.join(NODE_DIR, 'execute');

// What n8n hands a node as `this.getNode()`; NodeOperationError/NodeApiError read it.
const FAKE_NODE = Object.freeze({
	id: '00000000-0000-0000-0000-000000000000',
	name: 'Evolution API',
	type: 'n8n-nodes-evolution-api.evolutionApi',
	typeVersion: 1,
	position: [0, 0],
	parameters: {},
});

// Request headers worth reporting back (lower-case).
const RECORDED_HEADERS = ['apikey', 'content-type', 'accept'];

class HarnessError extends Error {}

// ---------------------------------------------------------------------------
// n8n's legacy `helpers.request` (n8n-core proxyRequestToAxios + parseRequestObject),
// reduced to what a request-promise-style caller can observe.

// Same defaults n8n-core applies to its axios: no default form content-type on
// POST/PUT/PATCH, and a 5 minute timeout (overridden per run below).
const http = axios.create({ timeout: 300000 });
http.defaults.headers.post = {};
http.defaults.headers.put = {};
http.defaults.headers.patch = {};
http.interceptors.request.use((config) => {
	if (config.data === undefined) config.headers.setContentType(false, false);
	return config;
});

function findHeader(headers, name) {
	if (!headers) return undefined;
	return Object.keys(headers).find((key) => key.toLowerCase() === name);
}

// qs.stringify(params, {arrayFormat: 'indices'}), n8n's default params serializer.
function serializeQuery(params) {
	const parts = [];
	const add = (key, value) => {
		if (value === undefined) return;
		if (value === null) {
			parts.push(encodeURIComponent(key) + '=');
		} else if (Array.isArray(value)) {
			value.forEach((item, index) => add(`${key}[${index}]`, item));
		} else if (typeof value === 'object' && !(value instanceof Date)) {
			for (const [sub, item] of Object.entries(value)) add(`${key}[${sub}]`, item);
		} else {
			const text = value instanceof Date ? value.toISOString() : String(value);
			parts.push(`${encodeURIComponent(key)}=${encodeURIComponent(text)}`);
		}
	};
	for (const [key, value] of Object.entries(params)) add(key, value);
	return parts.join('&');
}

function toAxiosConfig(options, timeoutMs) {
	if (options.form !== undefined || options.formData !== undefined) {
		// No operation of n8n-nodes-evolution-api 1.0.4 sends forms; fail loudly if one starts to.
		throw new HarnessError('harness: form/formData request bodies are not implemented');
	}
	const headers = { ...(options.headers || {}) };
	const config = {
		method: options.method || 'GET',
		url: (options.uri ?? options.url)?.toString(),
		headers,
		maxBodyLength: Infinity,
		maxContentLength: Infinity,
		timeout: options.timeout ?? timeoutMs,
		// The harness talks to a local test server: never route it through an
		// http(s)_proxy from the environment.
		proxy: false,
		paramsSerializer: { serialize: serializeQuery },
	};
	if (options.baseURL !== undefined) config.baseURL = options.baseURL.toString();
	if (options.body !== undefined) config.data = options.body;
	if (options.qs !== undefined && Object.keys(options.qs).length > 0) config.params = options.qs;
	if (options.json === true && !findHeader(headers, 'accept')) headers.Accept = 'application/json';
	if (options.json !== true) config.transformResponse = (raw) => raw; // no JSON parsing
	const method = options.method;
	const followRedirect =
		(options.followRedirect !== false && (!method || method === 'GET' || method === 'HEAD')) ||
		options.followAllRedirects;
	config.maxRedirects = followRedirect ? options.maxRedirects : 0;
	if (options.encoding === null) config.responseType = 'arraybuffer';
	if (!findHeader(headers, 'accept')) headers.accept = '*/*';
	if (
		options.json !== false &&
		config.data !== undefined &&
		config.data !== '' &&
		!Buffer.isBuffer(config.data) &&
		!findHeader(headers, 'content-type')
	) {
		headers['content-type'] = 'application/json';
	}
	if (options.simple === false) config.validateStatus = () => true;
	return config;
}

function relativePath(fullUrl, serverUrl) {
	let url;
	let base;
	try {
		url = new URL(fullUrl);
		base = new URL(serverUrl);
	} catch {
		return fullUrl;
	}
	const prefix = base.pathname.replace(/\/+$/, '');
	if (url.origin !== base.origin || !url.pathname.startsWith(prefix)) return url.href;
	return url.pathname.slice(prefix.length) + url.search;
}

function decodeBody(data, contentType) {
	if (data === undefined || data === null || data === '') return data ?? null;
	if (Buffer.isBuffer(data)) data = data.toString('utf8');
	if (typeof data !== 'string') return data;
	if (contentType && !String(contentType).includes('json')) return data;
	try {
		return JSON.parse(data);
	} catch {
		return data;
	}
}

// One entry of `requests`: taken from the wire request when there is one, so the
// headers are what the server actually received.
function recordRequest(config, wire, serverUrl) {
	const headers = {};
	const sent = wire && typeof wire.getHeaders === 'function' ? wire.getHeaders() : null;
	const configured = config && config.headers ? { ...config.headers } : {};
	for (const name of RECORDED_HEADERS) {
		let value = sent ? sent[name] : undefined;
		if (value === undefined) {
			const key = findHeader(configured, name);
			value = key === undefined ? undefined : configured[key];
		}
		if (value !== undefined && value !== false && value !== null) headers[name] = String(value);
	}
	let fullUrl = config ? config.url : undefined;
	try {
		fullUrl = http.getUri(config);
	} catch {
		// keep config.url
	}
	return {
		method: String((wire && wire.method) || (config && config.method) || 'GET').toUpperCase(),
		path: relativePath(fullUrl, serverUrl),
		headers,
		body: decodeBody(config ? config.data : undefined, headers['content-type']),
	};
}

function makeRequestHelper(log, serverUrl, timeoutMs) {
	return async function request(uriOrOptions, maybeOptions) {
		const options =
			typeof uriOrOptions === 'string' ? { uri: uriOrOptions, ...maybeOptions } : uriOrOptions || {};
		let config;
		try {
			config = toAxiosConfig(options, timeoutMs);
		} catch (error) {
			if (error instanceof HarnessError) log.harnessError = error.message;
			throw error;
		}
		try {
			const response = await http.request(config);
			log.requests.push(recordRequest(response.config, response.request, serverUrl));
			log.responses.push({
				status: response.status,
				body: decodeBody(response.data, response.headers['content-type']),
			});
			let body = response.data;
			if (body === '') body = config.responseType === 'arraybuffer' ? Buffer.alloc(0) : undefined;
			if (options.resolveWithFullResponse) {
				return {
					body,
					headers: { ...response.headers },
					statusCode: response.status,
					statusMessage: response.statusText,
				};
			}
			return body;
		} catch (error) {
			if (!error || !error.isAxiosError) throw error;
			const { response } = error;
			log.requests.push(
				recordRequest(error.config || config, response ? response.request : error.request, serverUrl),
			);
			error.config = error.request = undefined;
			if (!response) {
				log.responses.push({ status: null, body: null, error: `${error.code || ''} ${error.message}`.trim() });
				throw error;
			}
			let responseData = response.data;
			if (Buffer.isBuffer(responseData)) responseData = responseData.toString('utf8');
			log.responses.push({
				status: response.status,
				body: decodeBody(responseData, response.headers['content-type']),
			});
			// n8n-core: "<status> - <JSON of the body>", with the parsed body as `error`.
			error.message = `${response.status} - ${JSON.stringify(responseData)}`;
			throw Object.assign(error, {
				statusCode: response.status,
				status: response.status,
				error: responseData,
				response: {
					headers: response.headers,
					status: response.status,
					statusText: response.statusText,
					body: responseData,
				},
			});
		}
	};
}

// ---------------------------------------------------------------------------
// The fake IExecuteFunctions.

function clone(value) {
	return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

// lodash.get as n8n uses it on node.parameters: the whole name as a key first, then a dotted path.
function lookupParameter(params, name) {
	if (Object.prototype.hasOwnProperty.call(params, name) && params[name] !== undefined) {
		return params[name];
	}
	let current = params;
	for (const part of name.split('.')) {
		if (current === null || typeof current !== 'object' || !(part in current)) return undefined;
		current = current[part];
	}
	return current;
}

let nodeDescription = null;
let operationKeys = null;

// Which `resource` / `operation` values of the node's UI select this operation function.
function operationKey(fn) {
	if (operationKeys === null) {
		operationKeys = new Map();
		const { resourceOperationsFunctions } = require(path.join(OPERATIONS_DIR, 'index.js'));
		for (const [resource, operations] of Object.entries(resourceOperationsFunctions)) {
			for (const [operation, candidate] of Object.entries(operations)) {
				if (!operationKeys.has(candidate)) operationKeys.set(candidate, { resource, operation });
			}
		}
	}
	const key = operationKeys.get(fn);
	if (!key) throw new HarnessError(`harness: ${fn.name}() is not reachable from the node's UI`);
	return key;
}

// The parameters n8n itself would hand the operation: n8n's Workflow fills every parameter
// the node's UI shows for this resource/operation with its declared default
// (NodeHelpers.getNodeParameters); getNodeParameter() then reads from that.
function nodeParameters(fn, params) {
	if (nodeDescription === null) {
		const { EvolutionApi } = require(path.join(NODE_DIR, 'EvolutionApi.node.js'));
		nodeDescription = new EvolutionApi().description;
	}
	const values = { ...clone(params), ...operationKey(fn) };
	const resolved = NodeHelpers.getNodeParameters(
		nodeDescription.properties,
		values,
		true,
		false,
		{ ...FAKE_NODE, parameters: values },
		nodeDescription,
	);
	return resolved || {};
}

function makeExecuteFunctions(run, call, fn, log) {
	const params = call.params || {};
	const defaults = nodeParameters(fn, params);
	log.undisplayedParams = Object.keys(params).filter((name) => !(name in defaults));
	const continueOnFail = call.continue_on_fail === undefined ? true : Boolean(call.continue_on_fail);
	const ef = {
		getNodeParameter(name, _itemIndex, fallbackValue) {
			// The caller's params win (even ones n8n's UI would not show), then n8n's defaults.
			let value = lookupParameter(params, name);
			if (value === undefined) value = lookupParameter(defaults, name);
			if (value !== undefined) return clone(value);
			if (fallbackValue !== undefined) return fallbackValue;
			// n8n throws ApplicationError('Could not get parameter'); operations test for that text.
			const error = new Error(`Could not get parameter "${name}"`);
			error.parameterName = name;
			throw error;
		},
		async getCredentials(type) {
			if (type !== 'evolutionApi') {
				log.harnessError = `harness: no credentials of type "${type}"`;
				throw new HarnessError(log.harnessError);
			}
			return { 'server-url': run.server_url, apikey: run.apikey };
		},
		getInputData() {
			return [{ json: {} }];
		},
		getNode() {
			return clone(FAKE_NODE);
		},
		continueOnFail() {
			return continueOnFail;
		},
		helpers: {
			request: makeRequestHelper(log, run.server_url, run.request_timeout_ms ?? 30000),
			returnJsonArray,
		},
	};
	ef.helpers = strict(ef.helpers, 'ef.helpers', log);
	return strict(ef, 'ef', log);
}

// Anything else the node reaches for is a gap in this fake: say so instead of failing
// later with "x is not a function". The operations catch errors themselves, so the gap
// is also noted in `log` for runCall to turn into a harness error.
function strict(target, label, log) {
	return new Proxy(target, {
		get(object, prop, receiver) {
			if (typeof prop === 'symbol' || prop in object || prop === 'then') {
				return Reflect.get(object, prop, receiver);
			}
			log.harnessError = `harness: ${label}.${String(prop)} is not implemented`;
			throw new HarnessError(log.harnessError);
		},
	});
}

// n8n-core returnJsonArray: what EvolutionApi.execute() does with an operation's result.
function returnJsonArray(data) {
	const list = Array.isArray(data) ? data : [data];
	return list.map((item) => (item && item.json ? { ...item, json: item.json } : { json: item }));
}

function errorText(error) {
	if (!error) return 'unknown error';
	const message = error.message || String(error);
	const description = typeof error.description === 'string' ? error.description : '';
	return description && !message.includes(description) ? `${message}: ${description}` : message;
}

function itemErrorText(item) {
	const detail = item.json && item.json.error;
	if (detail && typeof detail === 'object') {
		const message = detail.message || 'error';
		return detail.details && detail.details !== message ? `${message}: ${detail.details}` : message;
	}
	if (item.error) return errorText(item.error);
	return 'operation reported success: false';
}

// ---------------------------------------------------------------------------

function loadOperation(operation) {
	if (typeof operation !== 'string' || !/^[A-Za-z]+\/[A-Za-z0-9]+$/.test(operation)) {
		throw new HarnessError(`harness: bad operation ${JSON.stringify(operation)}, want "<resource>/<name>"`);
	}
	const file = path.join(OPERATIONS_DIR, `${operation}.js`);
	if (!fs.existsSync(OPERATIONS_DIR)) {
		throw new HarnessError(
			`harness: ${OPERATIONS_DIR} is missing; run npm ci --prefix tests/clients/evolution_n8n`,
		);
	}
	if (!fs.existsSync(file)) throw new HarnessError(`harness: no operation file ${file}`);
	const exported = require(file)[operation.split('/')[1]];
	if (typeof exported !== 'function') {
		throw new HarnessError(`harness: ${file} does not export ${operation.split('/')[1]}()`);
	}
	return exported;
}

async function runCall(run, call) {
	const fn = loadOperation(call.operation);
	const log = { requests: [], responses: [], harnessError: null, undisplayedParams: [] };
	const ef = makeExecuteFunctions(run, call, fn, log);
	const outcome = { operation: call.operation, ok: false, result: null, items: [], error: null };
	try {
		const items = returnJsonArray(await fn(ef));
		outcome.items = items.map((item) => clone(item.json) ?? null);
		outcome.result = outcome.items.length === 1 ? outcome.items[0] : outcome.items;
		const failed = items.find((item) => item.error || (item.json && item.json.success === false));
		outcome.ok = !failed;
		if (failed) outcome.error = itemErrorText(failed);
	} catch (error) {
		if (error instanceof HarnessError) throw error;
		outcome.error = errorText(error);
	}
	if (log.harnessError) throw new HarnessError(log.harnessError);
	return {
		...outcome,
		requests: log.requests,
		responses: log.responses,
		undisplayed_params: log.undisplayedParams,
	};
}

function parseInput(text) {
	let run;
	try {
		run = JSON.parse(text);
	} catch (error) {
		throw new HarnessError(`harness: stdin is not JSON: ${error.message}`);
	}
	if (!run || typeof run !== 'object') throw new HarnessError('harness: stdin must be a JSON object');
	if (typeof run.server_url !== 'string' || !/^https?:\/\//.test(run.server_url)) {
		throw new HarnessError('harness: server_url must be an http(s) URL');
	}
	if (typeof run.apikey !== 'string') throw new HarnessError('harness: apikey must be a string');
	if (!Array.isArray(run.calls)) throw new HarnessError('harness: calls must be a list');
	run.calls.forEach((call, index) => {
		if (!call || typeof call !== 'object') throw new HarnessError(`harness: calls[${index}] is not an object`);
		if (call.params !== undefined && (typeof call.params !== 'object' || call.params === null)) {
			throw new HarnessError(`harness: calls[${index}].params must be an object`);
		}
		loadOperation(call.operation); // fail before any request is sent
	});
	return run;
}

async function main() {
	const run = parseInput(fs.readFileSync(0, 'utf8'));
	const results = [];
	for (const call of run.calls) results.push(await runCall(run, call));
	process.stdout.write(JSON.stringify(results) + '\n');
}

main().catch((error) => {
	process.stderr.write(`${error instanceof HarnessError ? error.message : error.stack || error}\n`);
	process.exitCode = 2;
});
