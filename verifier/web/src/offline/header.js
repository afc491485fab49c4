// Ethereum block headers (ledger/proofs/state_proof.py `BlockHeader`): the header's hash is
// keccak256 of its RLP; the fork whose fields the header carries decides the EVM rules.
import { RLP } from '@ethereumjs/rlp';
import { keccak, toBigInt } from '../bytes.js';
import { PlaceError } from './place.js';

// Header fields in RLP order; those after `nonce` exist from the fork that added them on.
export const HEADER_FIELDS = ['parentHash', 'sha3Uncles', 'miner', 'stateRoot', 'transactionsRoot',
  'receiptsRoot', 'logsBloom', 'difficulty', 'number', 'gasLimit', 'gasUsed', 'timestamp',
  'extraData', 'mixHash', 'nonce', 'baseFeePerGas', 'withdrawalsRoot', 'blobGasUsed',
  'excessBlobGas', 'parentBeaconBlockRoot', 'requestsHash'];
const INT_FIELDS = new Set(['difficulty', 'number', 'gasLimit', 'gasUsed', 'timestamp',
  'baseFeePerGas', 'blobGasUsed', 'excessBlobGas']);
// The newest fork whose field the header has (the rules the block was built under).
const FORKS = [['requestsHash', 'prague'], ['parentBeaconBlockRoot', 'cancun'],
  ['withdrawalsRoot', 'shanghai'], ['baseFeePerGas', 'london']];

/** Decode a header's RLP: {rlp, hash, fields, number, timestamp, stateRoot, fork}. */
export function decodeHeader(raw, place = 'block.header') {
  let items;
  try {
    items = RLP.decode(raw);
  } catch (exc) {
    throw new PlaceError(place, `${place} is not RLP: ${exc.message}`);
  }
  if (!Array.isArray(items) || items.length < 15 || items.length > HEADER_FIELDS.length
      || !items.every((i) => i instanceof Uint8Array)) {
    throw new PlaceError(place, `${place} is not a block header (a list of 15 to ${HEADER_FIELDS.length} byte strings)`);
  }
  const fields = {};
  items.forEach((value, i) => {
    const name = HEADER_FIELDS[i];
    if (INT_FIELDS.has(name)) {
      if (value.length && value[0] === 0) throw new PlaceError(`${place}.${name}`, `${place}.${name} has a leading zero byte`);
      fields[name] = toBigInt(value);
    } else {
      fields[name] = value;
    }
  });
  if (fields.stateRoot.length !== 32) throw new PlaceError(`${place}.stateRoot`, `${place}.stateRoot is not 32 bytes`);
  const found = FORKS.find(([name]) => name in fields);
  return {
    rlp: raw, hash: keccak(raw), fields, number: Number(fields.number), timestamp: Number(fields.timestamp),
    stateRoot: fields.stateRoot, fork: found ? found[1] : 'berlin',
  };
}
