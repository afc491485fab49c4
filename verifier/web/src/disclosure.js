// Reading a public event's chosen disclosures (ledger/proofs/disclosure.py `read_disclosed`).
import { keccak, processProof, utf8, equal } from './bytes.js';

export const LIST_FIELDS = new Set([
  'epcList', 'childEPCs', 'inputEPCList', 'outputEPCList',
  'quantityList', 'childQuantityList', 'inputQuantityList', 'outputQuantityList',
  'bizTransactionList', 'sourceList', 'destinationList', 'sensorElementList',
]);
const SPLIT_OBJECTS = new Set(['ilmd']);
const SALT = /^[0-9a-f]{32}$/;

export class DisclosureError extends Error {}

export const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

export const disclosureLeaf = (text) => keccak(utf8(text));

export function parse(text, where) {
  if (typeof text !== 'string') throw new DisclosureError(`${where} is not a string`);
  let item;
  try { item = JSON.parse(text); } catch { throw new DisclosureError(`${where} is not JSON`); }
  if (!Array.isArray(item) || item.length !== 3 || typeof item[0] !== 'string' || typeof item[1] !== 'string') {
    throw new DisclosureError(`${where} is not a [salt, name, value] array`);
  }
  if (!SALT.test(item[0])) throw new DisclosureError(`${where} has no 128-bit hex salt`);
  return item;
}

export function fold(parsed, where) {
  const event = {};
  const has = (k) => Object.prototype.hasOwnProperty.call(event, k);
  for (const [name, value] of parsed) {
    if (LIST_FIELDS.has(name)) {
      if (!has(name)) event[name] = [];
      event[name].push(value);
    } else if (SPLIT_OBJECTS.has(name) && isObject(value) && Object.keys(value).length === 1) {
      if (!has(name)) event[name] = {};
      const target = event[name];
      const [k] = Object.keys(value);
      if (!isObject(target) || Object.prototype.hasOwnProperty.call(target, k)) {
        throw new DisclosureError(`${where}: ${name}.${k} is disclosed twice`);
      }
      target[k] = value[k];
    } else {
      if (has(name)) throw new DisclosureError(`${where}: field ${name} is disclosed twice`);
      event[name] = value;
    }
  }
  return event;
}

/** [commitment, partial event] from chosen disclosures ({text, proof: [Uint8Array]}). */
export function readDisclosed(disclosed, where = 'event') {
  if (!disclosed.length) throw new DisclosureError(`${where} discloses nothing`);
  let root = null;
  const parsed = [];
  disclosed.forEach((d, n) => {
    const [, name, value] = parse(d.text, `${where} disclosure ${n}`);
    const node = processProof(disclosureLeaf(d.text), d.proof);
    if (root === null) root = node;
    else if (!equal(node, root)) {
      throw new DisclosureError(`${where} disclosure ${n} (${name}) does not lead to the same commitment as the others: altered`);
    }
    parsed.push([name, value]);
  });
  return [root, fold(parsed, where)];
}
