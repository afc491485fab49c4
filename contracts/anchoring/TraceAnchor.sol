// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {ConsortiumClient} from "../consortium/ConsortiumClient.sol";
import {IConsortium} from "../consortium/IConsortium.sol";
import {ANCHORER_ROLE} from "../consortium/Roles.sol";

/**
 * @title TraceAnchor
 * @notice Merkle roots of batches of signed captures, written once by an ANCHORER and never
 * overwritten. Leaves are sorted-pair keccak256 trees (OpenZeppelin {MerkleProof}), the trees
 * `ledger.merkle` builds.
 *
 * One root stands for a whole batch, so the cost of {anchor} does not grow with the batch: the
 * record is two storage slots, the first packing submitter, time, block and leaf count.
 */
contract TraceAnchor is ConsortiumClient {
    struct Record {
        address submitter;
        // uint32 seconds last until 2106 and uint32 blocks for 136 years of one-second blocks;
        // SafeCast reverts rather than wrap if a chain ever gets there.
        uint32 anchoredAt;
        uint32 blockNumber;
        uint32 leafCount;
    }

    mapping(bytes32 root => Record) private _records;
    mapping(bytes32 root => bytes32) private _metaHashes;

    event RootAnchored(bytes32 indexed root, uint32 leafCount, bytes32 metaHash, address indexed submitter);

    error TraceAnchorZeroRoot();
    error TraceAnchorEmptyBatch(bytes32 root);
    error TraceAnchorAlreadyAnchored(bytes32 root);

    constructor(IConsortium consortium_) ConsortiumClient(consortium_) {}

    /**
     * @notice Anchor the Merkle root of a batch of `leafCount` leaves, with `metaHash` naming
     * the batch's metadata (off chain).
     * Requirements: caller holds ANCHORER; `root` non-zero and never anchored; `leafCount > 0`.
     * Emits: {RootAnchored}.
     */
    function anchor(bytes32 root, uint32 leafCount, bytes32 metaHash) external onlyRole(ANCHORER_ROLE) {
        if (root == 0) revert TraceAnchorZeroRoot();
        if (leafCount == 0) revert TraceAnchorEmptyBatch(root);
        if (_records[root].submitter != address(0)) revert TraceAnchorAlreadyAnchored(root);
        _records[root] = Record(
            msg.sender, SafeCast.toUint32(block.timestamp), SafeCast.toUint32(block.number), leafCount
        );
        if (metaHash != 0) _metaHashes[root] = metaHash;
        emit RootAnchored(root, leafCount, metaHash, msg.sender);
    }

    /// @notice When, in which block, by whom and with what batch `root` was anchored; all zero if never.
    function anchorOf(bytes32 root)
        external
        view
        returns (uint64 anchoredAt, uint64 blockNumber, uint32 leafCount, address submitter, bytes32 metaHash)
    {
        Record storage r = _records[root];
        return (r.anchoredAt, r.blockNumber, r.leafCount, r.submitter, _metaHashes[root]);
    }

    /// @notice Unix time `root` was anchored at, or 0 if it never was.
    function anchoredAt(bytes32 root) external view returns (uint64) {
        return _records[root].anchoredAt;
    }

    function isAnchored(bytes32 root) public view returns (bool) {
        return _records[root].submitter != address(0);
    }

    /// @notice True if `root` is anchored and `proof` proves `leaf` under it.
    function verify(bytes32 root, bytes32 leaf, bytes32[] calldata proof) external view returns (bool) {
        return isAnchored(root) && MerkleProof.verifyCalldata(proof, root, leaf);
    }
}
