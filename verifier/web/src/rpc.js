// A JSON-RPC client pinned to one block: one verification reads one chain state.
import { encodeCall, decodeResult, contractOf } from './abi.js';

export class NodeError extends Error {}

export class Rpc {
  constructor(url, { timeoutMs = 8000, fetchImpl } = {}) {
    this.url = url;
    this.timeoutMs = timeoutMs;
    this.fetch = fetchImpl || globalThis.fetch.bind(globalThis);
    this.id = 0;
    this.requests = 0;
  }

  /** Send [method, params] pairs as one batch; returns the results in order. */
  async batch(calls) {
    if (!calls.length) return [];
    const body = calls.map(([method, params]) => ({ jsonrpc: '2.0', id: ++this.id, method, params }));
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), this.timeoutMs);
    let reply;
    try {
      this.requests += 1;
      const res = await this.fetch(this.url, {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body), signal: ctl.signal, cache: 'no-store',
      });
      if (!res.ok) throw new NodeError(`the node answered HTTP ${res.status}`);
      reply = await res.json();
    } catch (e) {
      if (e instanceof NodeError) throw e;
      throw new NodeError(e && e.name === 'AbortError' ? `no answer within ${this.timeoutMs} ms` : `could not be reached (${e && e.message || e})`);
    } finally {
      clearTimeout(timer);
    }
    if (!Array.isArray(reply)) throw new NodeError('the node did not answer the batch');
    const byId = new Map(reply.map((r) => [r && r.id, r]));
    return body.map((req) => {
      const r = byId.get(req.id);
      if (!r) throw new NodeError(`no answer to ${req.method}`);
      if (r.error) throw new NodeError(`${req.method} failed: ${r.error.message || JSON.stringify(r.error)}`);
      return r.result;
    });
  }
}

/** Reads of the Zhenzhi contracts at one pinned block, memoised, misses sent in one batch. */
export class ChainReader {
  constructor(rpc, contracts) {
    this.rpc = rpc;
    this.contracts = contracts;
    this.cache = new Map();
    this.block = null;
    this.blockHash = null;
    this.chainId = null;
  }

  async pin() {
    const [chainId, number] = await this.rpc.batch([['eth_chainId', []], ['eth_blockNumber', []]]);
    this.chainId = Number(BigInt(chainId));
    this.block = Number(BigInt(number));
    this.blockTag = '0x' + this.block.toString(16);
    return this;
  }

  static key(method, args) {
    return method + ':' + JSON.stringify(args, (k, v) => (v instanceof Uint8Array ? Array.from(v).join(',') : v));
  }

  /** Load every uncached read (and the pinned block's hash, once) in one batch. */
  async prefetch(reads) {
    const todo = [];
    const seen = new Set();
    for (const [method, args] of reads) {
      const k = ChainReader.key(method, args);
      if (this.cache.has(k) || seen.has(k)) continue;
      seen.add(k);
      todo.push([k, method, args]);
    }
    const calls = todo.map(([, method, args]) => {
      const to = this.contracts[contractOf(method)];
      if (!to) throw new NodeError(`config.json names no ${contractOf(method)} contract`);
      return ['eth_call', [{ to, data: encodeCall(method, args) }, this.blockTag]];
    });
    const wantHash = this.blockHash === null;
    if (wantHash) calls.unshift(['eth_getBlockByNumber', [this.blockTag, false]]);
    const results = await this.rpc.batch(calls);
    if (wantHash) {
      const block = results.shift();
      if (!block || typeof block.hash !== 'string') throw new NodeError(`the node does not hold block ${this.block}`);
      this.blockHash = block.hash;
    }
    todo.forEach(([k, method], i) => this.cache.set(k, decodeResult(method, results[i])));
  }

  async read(method, args) {
    const k = ChainReader.key(method, args);
    if (!this.cache.has(k)) await this.prefetch([[method, args]]);
    return this.cache.get(k);
  }
}
