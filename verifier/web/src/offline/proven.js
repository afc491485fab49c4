// Chain reads proven by state proofs at one block (ledger/chain/proven.py, in the browser).
//
// `provenState` checks every account, code and storage proof of a sealed bundle against its
// header's stateRoot. `ProvenProvider` then answers the JSON-RPC calls the verifier's
// ChainReader sends (eth_chainId, eth_blockNumber, eth_getBlockByNumber, eth_call) with no
// node: each eth_call runs in a local EVM (@ethereumjs/evm, the fork the header belongs to)
// over a state that holds only the accounts and slots the bundle proves. A read of any other
// account or slot raises UnprovenReadError: a witness cannot make a read return zero by
// leaving its proof out.
import { createEVM } from '@ethereumjs/evm';
import { Mainnet, createCustomCommon } from '@ethereumjs/common';
import { SimpleStateManager } from '@ethereumjs/statemanager';
import { Account, Address, bigIntToUnpaddedBytes } from '@ethereumjs/util';
import { keccak, equal, toHex, fromHex, toBigInt } from '../bytes.js';
import { checksumAddress } from '../capture.js';
import { proveAccount, proveStorage } from './state_proof.js';
import { PlaceError } from './place.js';

export class UnprovenReadError extends Error {
  constructor(message, { contract = null, slot = null } = {}) {
    super(message);
    this.contract = contract;
    this.slot = slot;
    this.call = null; // {to, data} of the verifier's eth_call that read it
  }
}

/** Check every proof of `sealed.state` against the header; return the proven accounts
 * (lowercase 0x-address → {account|undefined, code, slots: Map<BigInt, BigInt>}). */
export async function provenState(sealed) {
  const root = sealed.header.stateRoot;
  const accounts = new Map();
  for (let i = 0; i < sealed.state.length; i++) {
    const a = sealed.state[i];
    const at = `state[${i}]`;
    const acct = await proveAccount(root, fromHex(a.address, 20), a.accountProof, `${at}.accountProof`);
    if (!equal(keccak(a.code), acct.codeHash)) {
      throw new PlaceError(`${at}.code`, `${at}.code does not hash to the codeHash that ${at}.accountProof proves for ${a.address}`);
    }
    const slots = new Map();
    for (let j = 0; j < a.storage.length; j++) {
      const s = a.storage[j];
      const value = await proveStorage(acct.storageRoot, s.slot, s.proof, `${at}.storage[${j}].proof`);
      if (value !== s.value) {
        throw new PlaceError(`${at}.storage[${j}].value`, `${at}.storage[${j}].value is 0x${s.value.toString(16)}, but its proof proves 0x${value.toString(16)}`);
      }
      slots.set(s.slot, s.value);
    }
    accounts.set(a.address.toLowerCase(), {
      account: acct.exists ? new Account(acct.nonce, acct.balance, acct.storageRoot, acct.codeHash) : undefined,
      code: a.code, slots,
    });
  }
  return accounts;
}

const ZERO = new Address(new Uint8Array(20));

/** A read-only view of the proven accounts; writes (the call's own bookkeeping) stay in the
 * SimpleStateManager layers above it and are dropped after the call. */
class ProvenStateManager extends SimpleStateManager {
  constructor(proven, opts) {
    super(opts);
    this.proven = proven;
  }

  listed(address) {
    const key = address.toString();
    const entry = this.proven.get(key);
    if (entry === undefined) {
      const named = checksumAddress(address.bytes);
      throw new UnprovenReadError(`the evidence does not prove the account ${named}`, { contract: named });
    }
    return entry;
  }

  async getAccount(address) {
    if (this.topAccountStack().has(address.toString())) return super.getAccount(address);
    const a = this.listed(address).account;
    return a === undefined ? undefined : new Account(a.nonce, a.balance, a.storageRoot, a.codeHash);
  }

  async getCode(address) {
    if (this.topCodeStack().has(address.toString())) return super.getCode(address);
    return this.listed(address).code;
  }

  async getStorage(address, key) {
    const k = `${address.toString()}_${toHex(key)}`;
    if (this.topStorageStack().has(k)) return super.getStorage(address, key);
    const slot = toBigInt(key);
    const entry = this.listed(address);
    if (!entry.slots.has(slot)) {
      const named = checksumAddress(address.bytes);
      throw new UnprovenReadError(`the evidence does not prove storage slot 0x${slot.toString(16)} of ${named}`,
        { contract: named, slot: '0x' + slot.toString(16) });
    }
    return bigIntToUnpaddedBytes(entry.slots.get(slot));
  }

  shallowCopy() {
    return new ProvenStateManager(this.proven, { common: this.common });
  }
}

/** The @ethereumjs Common of the header's fork, on `chainId`. */
export function commonFor(header, chainId) {
  return createCustomCommon({ chainId, name: `zhenzhi-${chainId}` }, Mainnet, { hardfork: header.fork });
}

/** A JSON-RPC "node" over the proven state at the sealed block (what rpc.js `ChainReader`
 * reads through): nothing leaves the page. */
export class ProvenProvider {
  constructor(sealed, proven) {
    this.sealed = sealed;
    this.proven = proven;
    this.requests = 0;
    this.calls = 0;
    this.common = commonFor(sealed.header, sealed.chainId);
  }

  async batch(calls) {
    this.requests += 1;
    const out = [];
    for (const [method, params] of calls) out.push(await this.answer(method, params));
    return out;
  }

  async answer(method, params) {
    const h = this.sealed.header;
    const tag = '0x' + h.number.toString(16);
    if (method === 'eth_chainId') return '0x' + this.sealed.chainId.toString(16);
    if (method === 'eth_blockNumber') return tag;
    if (method === 'eth_getBlockByNumber') {
      if (params[0] !== tag) throw new UnprovenReadError(`the evidence holds block ${h.number}, not ${params[0]}`);
      return { number: tag, hash: toHex(h.hash), timestamp: '0x' + h.timestamp.toString(16) };
    }
    if (method === 'eth_call') {
      const [{ to, data }, block] = params;
      if (block !== tag) throw new UnprovenReadError(`the evidence holds block ${h.number}, not ${block}`);
      try {
        return toHex(await this.execute(to, fromHex(data, null, 'data')));
      } catch (exc) {
        if (exc instanceof UnprovenReadError) exc.call = { to, data };
        throw exc;
      }
    }
    throw new UnprovenReadError(`${method} is not answered from sealed evidence`);
  }

  /** Run one read-only call at the header's block; raise if it reads unproven state or fails. */
  async execute(to, data) {
    this.calls += 1;
    const f = this.sealed.header.fields;
    const stateManager = new ProvenStateManager(this.proven, { common: this.common });
    // The sender of a view call (the zero address, as eth_call without `from`) is an empty
    // account of the call's own making: the EVM reads and "debits" it before any code runs.
    await stateManager.putAccount(ZERO, undefined);
    // createEVM's default blockchain has no history: BLOCKHASH answers zero, as the Python
    // checker's empty prev_hashes do.
    const evm = await createEVM({ common: this.common, stateManager });
    const block = { header: {
      number: f.number, coinbase: new Address(f.miner), timestamp: f.timestamp, difficulty: f.difficulty,
      prevRandao: f.mixHash, gasLimit: f.gasLimit, baseFeePerGas: f.baseFeePerGas,
      getBlobGasPrice: () => undefined,
    } };
    const result = await evm.runCall({ to: new Address(fromHex(to, 20, 'to')), caller: ZERO, data, gasLimit: f.gasLimit,
      block, skipNonceIncrement: true });
    const err = result.execResult.exceptionError;
    if (err) {
      const named = checksumAddress(fromHex(to, 20, 'to'));
      throw new UnprovenReadError(`a call to ${named} failed in the offline EVM: ${err.error || err}`, { contract: named });
    }
    return result.execResult.returnValue;
  }
}
