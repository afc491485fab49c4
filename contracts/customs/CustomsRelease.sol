// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ConsortiumClient} from "../consortium/ConsortiumClient.sol";
import {IConsortium} from "../consortium/IConsortium.sol";
import {CUSTOMS_ROLE} from "../consortium/Roles.sol";

/**
 * @title CustomsRelease
 * @notice Customs decisions per consignment: the decision, the inspection outcome, the Merkle
 * root of the event ids it covers and the risk rule set it was made under. A later decision
 * supersedes the earlier ones, which stay readable.
 */
contract CustomsRelease is ConsortiumClient {
    /// @dev Same order as `ledger.risk.Decision` (by severity).
    enum Decision {
        DirectRelease,
        NormalControl,
        ImmediateControl
    }

    enum Inspection {
        NotInspected,
        Passed,
        Failed
    }

    struct Record {
        bytes32 eventsRoot;
        bytes32 rulesVersion; // ASCII, zero-padded, e.g. "v1"
        bytes32 rulesHash; // sha-256 of the published rule set file
        address recorder;
        uint64 decidedAt;
        Decision decision;
        Inspection inspection;
    }

    mapping(bytes32 consignment => Record[]) private _history;

    event DecisionRecorded(
        bytes32 indexed consignment,
        uint256 indexed sequence,
        Decision decision,
        Inspection inspection,
        bytes32 eventsRoot,
        bytes32 rulesVersion,
        bytes32 rulesHash,
        address recorder
    );
    event DecisionSuperseded(bytes32 indexed consignment, uint256 superseded, uint256 by);

    error CustomsReleaseZeroConsignment();
    error CustomsReleaseMissingRulesVersion(bytes32 consignment);
    error CustomsReleaseUnknownConsignment(bytes32 consignment);
    error CustomsReleaseUnknownDecision(bytes32 consignment, uint256 sequence);

    constructor(IConsortium consortium_) ConsortiumClient(consortium_) {}

    /**
     * @notice Record customs' decision on `consignment`; it supersedes any earlier one.
     * Requirements: caller holds CUSTOMS; `consignment` and `rulesVersion` non-zero.
     * Emits: {DecisionRecorded}, and {DecisionSuperseded} when an earlier decision exists.
     */
    function recordDecision(
        bytes32 consignment,
        Decision decision,
        Inspection inspection,
        bytes32 eventsRoot,
        bytes32 rulesVersion,
        bytes32 rulesHash
    ) external onlyRole(CUSTOMS_ROLE) returns (uint256 sequence) {
        if (consignment == 0) revert CustomsReleaseZeroConsignment();
        if (rulesVersion == 0) revert CustomsReleaseMissingRulesVersion(consignment);
        Record[] storage history = _history[consignment];
        sequence = history.length;
        history.push(
            Record(eventsRoot, rulesVersion, rulesHash, msg.sender, uint64(block.timestamp), decision, inspection)
        );
        emit DecisionRecorded(
            consignment, sequence, decision, inspection, eventsRoot, rulesVersion, rulesHash, msg.sender
        );
        if (sequence > 0) emit DecisionSuperseded(consignment, sequence - 1, sequence);
    }

    /// @notice The decision in force for `consignment` (the latest).
    function latestDecision(bytes32 consignment) external view returns (Record memory) {
        Record[] storage history = _history[consignment];
        if (history.length == 0) revert CustomsReleaseUnknownConsignment(consignment);
        return history[history.length - 1];
    }

    /// @notice Decision number `sequence` (0 = first) for `consignment`.
    function decisionAt(bytes32 consignment, uint256 sequence) external view returns (Record memory) {
        Record[] storage history = _history[consignment];
        if (sequence >= history.length) revert CustomsReleaseUnknownDecision(consignment, sequence);
        return history[sequence];
    }

    function decisionCount(bytes32 consignment) external view returns (uint256) {
        return _history[consignment].length;
    }
}
