// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {GS1} from "../gs1/GS1.sol";
import {IConsortium} from "./IConsortium.sol";
import {ADMIN_ROLE, ANCHORER_ROLE, CUSTOMS_ROLE, ENTERPRISE_ROLE, REGULATOR_ROLE} from "./Roles.sol";

/**
 * @title Consortium
 * @notice The members of a Zhenzhi ledger: organisations identified by GLN (or PGLN), their
 * roles, their signing keys, the GS1 company prefixes they own, their credit grade and whether
 * a regulator has blacklisted them.
 *
 * Membership, roles and company prefixes change only by M-of-N proposals of the ADMIN
 * organisations (one vote per organisation, however many keys it has). Every key, membership
 * and role keeps its validity windows forever, so a signature is judged by the state at the
 * time it was made ({wasValidSigner}), not by today's.
 *
 * The contract is also the EIP-712 domain ("Zhenzhi", "2") of the enterprises' capture
 * signatures, so {captureSigner} checks one on chain exactly as the gateway does off chain.
 *
 * Roles follow OpenZeppelin {AccessControl}: {hasRole} and `onlyRole` work as usual, but a role
 * is derived from the caller's organisation, so {grantRole}, {revokeRole} and {renounceRole}
 * always revert: roles change through proposals only.
 */
contract Consortium is AccessControl, EIP712, IConsortium {
    enum ProposalKind {
        Admit,
        Remove,
        GrantRole,
        RevokeRole,
        SetQuorum,
        AddKey,
        AssignPrefix
    }

    /// @dev Valid from `from` (inclusive) until `until` (exclusive); `until == 0` means still open.
    struct Window {
        uint64 from;
        uint64 until;
    }

    struct Key {
        bytes32 org;
        uint64 addedAt;
        uint64 addedBlock;
        uint64 revokedAt;
        uint64 revokedBlock;
    }

    struct Organisation {
        string name;
        bytes32 grade;
        uint8 roles; // bit mask, see _roleBit
        bool member;
        bool blacklisted;
        bool exists;
    }

    struct Proposal {
        ProposalKind kind;
        uint64 expiresAt;
        bool executed;
        bytes32 org;
        bytes32 proposerOrg;
        bytes payload; // abi-encoded arguments of the action, by kind
        bytes32[] approvers; // organisations, in approval order
    }

    /// @dev A founding member, admitted by the constructor without a proposal.
    struct Founder {
        bytes32 org;
        string name;
        bytes32[] roles;
        address[] keys;
    }

    /// @notice Longest lifetime of a proposal.
    uint32 public constant MAX_PROPOSAL_LIFETIME = 30 days;
    uint256 private constant MAX_NAME_LENGTH = 128;
    bytes32 private constant CAPTURE_TYPEHASH =
        keccak256("Capture(bytes32 eventsRoot,uint32 count,bytes32 org,uint64 nonce,uint64 signedAt)");

    mapping(bytes32 org => Organisation) private _orgs;
    mapping(bytes32 org => Window[]) private _membership;
    mapping(bytes32 org => mapping(uint8 roleBit => Window[])) private _roleWindows;
    mapping(bytes32 org => address[]) private _orgKeys;
    mapping(address key => Key) private _keys;
    mapping(bytes32 prefix => bytes32 org) private _prefixOwner;
    // A shorter prefix maps to one longer assigned prefix that extends it, so that assigned
    // prefixes stay prefix-free (as GS1 allocates them) and a GTIN has at most one owner.
    mapping(bytes32 prefix => bytes32 longer) private _extendedBy;
    mapping(bytes32 org => bytes32[]) private _orgPrefixes;
    mapping(bytes32 grade => uint256 levelPlusOne) private _gradeLevel;
    bytes32[] private _grades;
    Proposal[] private _proposals;
    uint256 private _quorum;
    uint256 private _adminCount;

    event OrganisationAdmitted(bytes32 indexed org, string name);
    event OrganisationRemoved(bytes32 indexed org);
    event OrganisationRoleGranted(bytes32 indexed org, bytes32 indexed role);
    event OrganisationRoleRevoked(bytes32 indexed org, bytes32 indexed role);
    event KeyAdded(bytes32 indexed org, address indexed key, address addedBy);
    event KeyRevoked(bytes32 indexed org, address indexed key, address revokedBy);
    event CompanyPrefixAssigned(bytes32 indexed prefix, bytes32 indexed org);
    event QuorumChanged(uint256 previous, uint256 quorum);
    event ProposalCreated(
        uint256 indexed id, ProposalKind kind, bytes32 indexed org, bytes payload, uint64 expiresAt, bytes32 proposerOrg
    );
    event ProposalApproved(uint256 indexed id, bytes32 indexed org, address approver);
    event ProposalExecuted(uint256 indexed id, address executor);
    event GradeDefined(bytes32 indexed grade, uint256 level);
    event GradeSet(bytes32 indexed org, bytes32 previous, bytes32 grade);
    event OrganisationBlacklisted(bytes32 indexed org, bytes32 reasonHash);
    event OrganisationUnblacklisted(bytes32 indexed org, bytes32 reasonHash);

    error ConsortiumInvalidOrgId(bytes32 org);
    error ConsortiumInvalidName(bytes32 org, uint256 length);
    error ConsortiumUnknownOrg(bytes32 org);
    error ConsortiumAlreadyMember(bytes32 org);
    error ConsortiumNotMember(bytes32 org);
    error ConsortiumUnknownRole(bytes32 role);
    error ConsortiumRoleAlreadyGranted(bytes32 org, bytes32 role);
    error ConsortiumRoleNotGranted(bytes32 org, bytes32 role);
    error ConsortiumRolesByProposalOnly(bytes32 role, address account);
    error ConsortiumZeroKey(bytes32 org);
    error ConsortiumKeyAlreadyRegistered(address key, bytes32 org);
    error ConsortiumUnknownKey(address key);
    error ConsortiumKeyAlreadyRevoked(address key, uint64 revokedAt);
    error ConsortiumNotOrgKey(address caller, bytes32 org);
    error ConsortiumInvalidPrefix(bytes32 prefix);
    error ConsortiumPrefixTaken(bytes32 prefix, bytes32 owner);
    error ConsortiumPrefixOverlaps(bytes32 prefix, bytes32 assigned);
    error ConsortiumInvalidQuorum(uint256 quorum, uint256 adminCount);
    error ConsortiumQuorumUnreachable(uint256 adminCountAfter, uint256 quorum);
    error ConsortiumInvalidLifetime(uint32 lifetime, uint32 max);
    error ConsortiumUnknownProposal(uint256 id);
    error ConsortiumProposalExpired(uint256 id, uint64 expiresAt);
    error ConsortiumProposalAlreadyExecuted(uint256 id);
    error ConsortiumAlreadyApproved(uint256 id, bytes32 org);
    error ConsortiumQuorumNotReached(uint256 id, uint256 approvals, uint256 quorum);
    error ConsortiumInvalidGrade(bytes32 grade);
    error ConsortiumGradeAlreadyDefined(bytes32 grade);
    error ConsortiumBlacklistUnchanged(bytes32 org, bool blacklisted);

    /**
     * @param founders the founding organisations, admitted with their roles and keys.
     * @param quorum_ approvals (by distinct ADMIN organisations) a proposal needs.
     *
     * Requirements: valid founders (as for an admission proposal), at least one with ADMIN,
     * `1 <= quorum_ <=` the number of ADMIN founders.
     *
     * Emits: {OrganisationAdmitted}, {OrganisationRoleGranted}, {KeyAdded} per founder, then
     * {QuorumChanged}.
     */
    constructor(Founder[] memory founders, uint256 quorum_) EIP712("Zhenzhi", "2") {
        for (uint256 i = 0; i < founders.length; ++i) {
            Founder memory f = founders[i];
            _checkAdmit(f.org, f.name, f.roles, f.keys);
            _admit(f.org, f.name, f.roles, f.keys);
        }
        if (quorum_ == 0 || quorum_ > _adminCount) revert ConsortiumInvalidQuorum(quorum_, _adminCount);
        _quorum = quorum_;
        emit QuorumChanged(0, quorum_);
    }

    // ---------------------------------------------------------------- governance

    /**
     * @notice Propose admitting `org` with a name, roles and initial keys.
     * Requirements: caller holds ADMIN; `org` is a valid GLN, not a member; name of 1-128 bytes;
     * roles known and distinct; keys non-zero and never registered; `lifetime` in 1..30 days.
     * Emits: {ProposalCreated}, {ProposalApproved} (the proposer's organisation approves).
     */
    function proposeAdmit(
        bytes32 org,
        string calldata name,
        bytes32[] calldata roles,
        address[] calldata keys,
        uint32 lifetime
    ) external onlyRole(ADMIN_ROLE) returns (uint256) {
        return _propose(ProposalKind.Admit, org, abi.encode(name, roles, keys), lifetime);
    }

    /**
     * @notice Propose removing member `org`. On execution every unrevoked key of `org` is
     * revoked as of that block, so no check accepts it again (requests, captures, lots); the
     * signatures its keys made while it was a member stay valid, as for any revoked key.
     * Requirements: caller holds ADMIN; `org` is a member; the ADMIN organisations left can
     * still reach the quorum.
     * Emits: {ProposalCreated}, {ProposalApproved}; on execution {OrganisationRoleRevoked},
     * {KeyRevoked} per key and {OrganisationRemoved}.
     */
    function proposeRemove(bytes32 org, uint32 lifetime) external onlyRole(ADMIN_ROLE) returns (uint256) {
        return _propose(ProposalKind.Remove, org, "", lifetime);
    }

    /**
     * @notice Propose granting `role` to member `org`.
     * Requirements: caller holds ADMIN; `org` is a member without `role`; `role` is known.
     * Emits: {ProposalCreated}, {ProposalApproved}.
     */
    function proposeGrantRole(bytes32 org, bytes32 role, uint32 lifetime)
        external
        onlyRole(ADMIN_ROLE)
        returns (uint256)
    {
        return _propose(ProposalKind.GrantRole, org, abi.encode(role), lifetime);
    }

    /**
     * @notice Propose revoking `role` from member `org`.
     * Requirements: caller holds ADMIN; `org` holds `role`; revoking ADMIN leaves enough ADMIN
     * organisations for the quorum.
     * Emits: {ProposalCreated}, {ProposalApproved}.
     */
    function proposeRevokeRole(bytes32 org, bytes32 role, uint32 lifetime)
        external
        onlyRole(ADMIN_ROLE)
        returns (uint256)
    {
        return _propose(ProposalKind.RevokeRole, org, abi.encode(role), lifetime);
    }

    /**
     * @notice Propose a new quorum (approvals a proposal needs).
     * Requirements: caller holds ADMIN; `1 <= quorum_ <=` the number of ADMIN organisations.
     * Emits: {ProposalCreated}, {ProposalApproved}.
     */
    function proposeSetQuorum(uint256 quorum_, uint32 lifetime) external onlyRole(ADMIN_ROLE) returns (uint256) {
        return _propose(ProposalKind.SetQuorum, bytes32(0), abi.encode(quorum_), lifetime);
    }

    /**
     * @notice Propose adding `key` to member `org`: how an organisation that lost all its keys
     * gets one back. (An organisation adds keys itself with {addKey}.)
     * Requirements: caller holds ADMIN; `org` is a member; `key` is non-zero, never registered.
     * Emits: {ProposalCreated}, {ProposalApproved}.
     */
    function proposeAddKey(bytes32 org, address key, uint32 lifetime) external onlyRole(ADMIN_ROLE) returns (uint256) {
        return _propose(ProposalKind.AddKey, org, abi.encode(key), lifetime);
    }

    /**
     * @notice Propose assigning GS1 company prefix `prefix` (4-12 ASCII digits, zero-padded)
     * to member `org`.
     * Requirements: caller holds ADMIN; `org` is a member; `prefix` is well formed, unassigned,
     * and neither extends nor is extended by an assigned prefix.
     * Emits: {ProposalCreated}, {ProposalApproved}.
     */
    function proposeAssignPrefix(bytes32 org, bytes32 prefix, uint32 lifetime)
        external
        onlyRole(ADMIN_ROLE)
        returns (uint256)
    {
        return _propose(ProposalKind.AssignPrefix, org, abi.encode(prefix), lifetime);
    }

    /**
     * @notice Approve proposal `id` on behalf of the caller's organisation.
     * Requirements: caller holds ADMIN; the proposal exists, is neither executed nor expired,
     * and the caller's organisation has not approved it yet.
     * Emits: {ProposalApproved}.
     */
    function approve(uint256 id) external onlyRole(ADMIN_ROLE) {
        Proposal storage p = _openProposal(id);
        bytes32 org = _keys[msg.sender].org;
        for (uint256 i = 0; i < p.approvers.length; ++i) {
            if (p.approvers[i] == org) revert ConsortiumAlreadyApproved(id, org);
        }
        p.approvers.push(org);
        emit ProposalApproved(id, org, msg.sender);
    }

    /**
     * @notice Carry out proposal `id`.
     * Requirements: caller holds ADMIN; the proposal is neither executed nor expired; approvals
     * by organisations that are ADMIN members now reach the quorum; the action is still valid.
     * Emits: {ProposalExecuted} and the action's own events.
     */
    function execute(uint256 id) external onlyRole(ADMIN_ROLE) {
        Proposal storage p = _openProposal(id);
        uint256 approvals = _validApprovals(p);
        if (approvals < _quorum) revert ConsortiumQuorumNotReached(id, approvals, _quorum);
        p.executed = true;
        _check(p.kind, p.org, p.payload);
        _apply(p.kind, p.org, p.payload);
        emit ProposalExecuted(id, msg.sender);
    }

    // ---------------------------------------------------------------- keys

    /**
     * @notice Add a signing (and transaction) key to the caller's own organisation.
     * Requirements: caller is an unrevoked key of `org`; `org` is a member; `key` non-zero and
     * never registered to any organisation.
     * Emits: {KeyAdded}.
     */
    function addKey(bytes32 org, address key) external {
        if (_keys[msg.sender].org != org || _keys[msg.sender].revokedAt != 0) revert ConsortiumNotOrgKey(msg.sender, org);
        if (!_orgs[org].member) revert ConsortiumNotMember(org);
        _checkNewKey(org, key);
        _addKey(org, key);
    }

    /**
     * @notice Revoke `key` from now on; signatures it made earlier stay valid.
     * Requirements: `key` is registered and unrevoked; the caller is an unrevoked key of the
     * same organisation, or holds ADMIN (revoking only ever removes authority, so one admin
     * may act at once on a compromised key).
     * Emits: {KeyRevoked}.
     */
    function revokeKey(address key) external {
        Key storage k = _keys[key];
        bytes32 org = k.org;
        if (org == 0) revert ConsortiumUnknownKey(key);
        Key storage caller = _keys[msg.sender];
        bool own = caller.org == org && caller.revokedAt == 0;
        if (!own && !hasRole(ADMIN_ROLE, msg.sender)) revert ConsortiumNotOrgKey(msg.sender, org);
        if (k.revokedAt != 0) revert ConsortiumKeyAlreadyRevoked(key, k.revokedAt);
        k.revokedAt = uint64(block.timestamp);
        k.revokedBlock = uint64(block.number);
        emit KeyRevoked(org, key, msg.sender);
    }

    // ---------------------------------------------------------------- regulator

    /**
     * @notice Append credit grade `grade` (e.g. "A" as bytes32) as the next level.
     * Requirements: caller holds REGULATOR; `grade` non-zero and not yet defined.
     * Emits: {GradeDefined}.
     */
    function defineGrade(bytes32 grade) external onlyRole(REGULATOR_ROLE) {
        if (grade == 0) revert ConsortiumInvalidGrade(grade);
        if (_gradeLevel[grade] != 0) revert ConsortiumGradeAlreadyDefined(grade);
        _grades.push(grade);
        _gradeLevel[grade] = _grades.length;
        emit GradeDefined(grade, _grades.length - 1);
    }

    /**
     * @notice Set the credit grade of `org` (zero clears it).
     * Requirements: caller holds REGULATOR; `org` was ever admitted; `grade` is zero or defined.
     * Emits: {GradeSet}.
     */
    function setGrade(bytes32 org, bytes32 grade) external onlyRole(REGULATOR_ROLE) {
        Organisation storage o = _orgs[org];
        if (!o.exists) revert ConsortiumUnknownOrg(org);
        if (grade != 0 && _gradeLevel[grade] == 0) revert ConsortiumInvalidGrade(grade);
        bytes32 previous = o.grade;
        o.grade = grade;
        emit GradeSet(org, previous, grade);
    }

    /**
     * @notice Put `org` on or off the blacklist, citing the hash of the reason document.
     * Requirements: caller holds REGULATOR; `org` was ever admitted; the flag changes.
     * Emits: {OrganisationBlacklisted} or {OrganisationUnblacklisted}.
     */
    function setBlacklisted(bytes32 org, bool blacklisted, bytes32 reasonHash) external onlyRole(REGULATOR_ROLE) {
        Organisation storage o = _orgs[org];
        if (!o.exists) revert ConsortiumUnknownOrg(org);
        if (o.blacklisted == blacklisted) revert ConsortiumBlacklistUnchanged(org, blacklisted);
        o.blacklisted = blacklisted;
        if (blacklisted) emit OrganisationBlacklisted(org, reasonHash);
        else emit OrganisationUnblacklisted(org, reasonHash);
    }

    // ---------------------------------------------------------------- AccessControl

    /// @notice True if `account` is an unrevoked key of a member organisation holding `role`.
    function hasRole(bytes32 role, address account) public view override(AccessControl, IAccessControl) returns (bool) {
        bytes32 org = _keys[account].org;
        if (org == 0 || _keys[account].revokedAt != 0) return false;
        Organisation storage o = _orgs[org];
        return o.member && (o.roles & _roleBit(role)) != 0;
    }

    /// @notice Always reverts: roles belong to organisations and change by proposal.
    function grantRole(bytes32 role, address account) public pure override(AccessControl, IAccessControl) {
        revert ConsortiumRolesByProposalOnly(role, account);
    }

    /// @notice Always reverts: roles belong to organisations and change by proposal.
    function revokeRole(bytes32 role, address account) public pure override(AccessControl, IAccessControl) {
        revert ConsortiumRolesByProposalOnly(role, account);
    }

    /// @notice Always reverts: an organisation's role is revoked by proposal, a key by {revokeKey}.
    function renounceRole(bytes32 role, address account) public pure override(AccessControl, IAccessControl) {
        revert ConsortiumRolesByProposalOnly(role, account);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IConsortium
    function wasValidSigner(bytes32 org, address key, bytes32 role, uint64 timestamp) public view returns (bool) {
        Key storage k = _keys[key];
        if (org == 0 || k.org != org || timestamp < k.addedAt) return false;
        if (k.revokedAt != 0 && timestamp >= k.revokedAt) return false;
        uint8 bit = _roleBit(role);
        if (bit == 0) return false;
        return _within(_membership[org], timestamp) && _within(_roleWindows[org][bit], timestamp);
    }

    /**
     * @notice Recover the signer of an enterprise's EIP-712 `Capture` signature and say whether
     * it was a valid ENTERPRISE signer for `org` at `signedAt`. Malformed or high-s signatures
     * give (address(0), false).
     */
    function captureSigner(
        bytes32 eventsRoot,
        uint32 count,
        bytes32 org,
        uint64 nonce,
        uint64 signedAt,
        bytes calldata signature
    ) external view returns (address signer, bool valid) {
        bytes32 digest =
            _hashTypedDataV4(keccak256(abi.encode(CAPTURE_TYPEHASH, eventsRoot, count, org, nonce, signedAt)));
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, signature);
        if (err != ECDSA.RecoverError.NoError) return (address(0), false);
        return (recovered, wasValidSigner(org, recovered, ENTERPRISE_ROLE, signedAt));
    }

    /// @inheritdoc IConsortium
    function orgOfKey(address key) external view returns (bytes32) {
        return _keys[key].org;
    }

    /// @inheritdoc IConsortium
    function activeOrgOfKey(address key) external view returns (bytes32) {
        Key storage k = _keys[key];
        return k.revokedAt == 0 && _orgs[k.org].member ? k.org : bytes32(0);
    }

    /// @notice When `key` was added and revoked (zeros: not revoked), and to which organisation.
    function keyInfo(address key) external view returns (Key memory) {
        return _keys[key];
    }

    /// @notice Every key ever registered to `org`, revoked ones included.
    function keysOf(bytes32 org) external view returns (address[] memory) {
        return _orgKeys[org];
    }

    /// @notice Name, current roles, membership, credit grade and blacklist flag of `org`.
    function organisation(bytes32 org)
        external
        view
        returns (string memory name, bytes32[] memory roles, bool member, bytes32 grade, bool blacklisted, bool exists)
    {
        Organisation storage o = _orgs[org];
        bytes32[5] memory all = [ADMIN_ROLE, ENTERPRISE_ROLE, CUSTOMS_ROLE, REGULATOR_ROLE, ANCHORER_ROLE];
        uint256 n;
        roles = new bytes32[](5);
        for (uint256 i = 0; i < 5; ++i) {
            if (o.roles & _roleBit(all[i]) != 0) roles[n++] = all[i];
        }
        assembly ("memory-safe") {
            mstore(roles, n)
        }
        return (o.name, roles, o.member, o.grade, o.blacklisted, o.exists);
    }

    /// @notice Membership windows of `org`, oldest first.
    function membershipHistory(bytes32 org) external view returns (Window[] memory) {
        return _membership[org];
    }

    /// @notice Windows in which `org` held `role`, oldest first.
    function roleHistory(bytes32 org, bytes32 role) external view returns (Window[] memory) {
        return _roleWindows[org][_roleBit(role)];
    }

    /// @inheritdoc IConsortium
    function isBlacklisted(bytes32 org) external view returns (bool) {
        return _orgs[org].blacklisted;
    }

    /// @notice The organisation owning company prefix `prefix`, or zero.
    function prefixOwner(bytes32 prefix) external view returns (bytes32) {
        return _prefixOwner[prefix];
    }

    /// @notice Company prefixes assigned to `org`.
    function prefixesOf(bytes32 org) external view returns (bytes32[] memory) {
        return _orgPrefixes[org];
    }

    /// @inheritdoc IConsortium
    function gtinOwner(string calldata gtin14) external view returns (bytes32 org, bytes32 prefix) {
        bytes calldata g = bytes(gtin14);
        if (g.length != 14) return (0, 0);
        // The company prefix follows the indicator digit; assigned prefixes are prefix-free,
        // so at most one length matches.
        for (uint256 len = 4; len <= 12; ++len) {
            prefix = bytes32(g[1:1 + len]);
            org = _prefixOwner[prefix];
            if (org != 0) return (org, prefix);
        }
        return (0, 0);
    }

    /// @notice Credit grade levels, lowest index first, as the regulator defined them.
    function gradeLevels() external view returns (bytes32[] memory) {
        return _grades;
    }

    /// @notice Approvals a proposal needs.
    function quorum() external view returns (uint256) {
        return _quorum;
    }

    /// @notice Number of member organisations holding ADMIN.
    function adminCount() external view returns (uint256) {
        return _adminCount;
    }

    function proposalCount() external view returns (uint256) {
        return _proposals.length;
    }

    /// @notice Proposal `id` as stored; `payload` is abi-encoded per kind (see the propose functions).
    function proposal(uint256 id) external view returns (Proposal memory) {
        if (id >= _proposals.length) revert ConsortiumUnknownProposal(id);
        return _proposals[id];
    }

    /// @notice Approvals of proposal `id` that count now (by organisations still ADMIN members).
    function validApprovals(uint256 id) external view returns (uint256) {
        if (id >= _proposals.length) revert ConsortiumUnknownProposal(id);
        return _validApprovals(_proposals[id]);
    }

    // ---------------------------------------------------------------- internals

    function _propose(ProposalKind kind, bytes32 org, bytes memory payload, uint32 lifetime)
        private
        returns (uint256 id)
    {
        if (lifetime == 0 || lifetime > MAX_PROPOSAL_LIFETIME) {
            revert ConsortiumInvalidLifetime(lifetime, MAX_PROPOSAL_LIFETIME);
        }
        _check(kind, org, payload);
        bytes32 proposerOrg = _keys[msg.sender].org;
        id = _proposals.length;
        Proposal storage p = _proposals.push();
        p.kind = kind;
        p.org = org;
        p.expiresAt = uint64(block.timestamp) + lifetime;
        p.proposerOrg = proposerOrg;
        p.payload = payload;
        p.approvers.push(proposerOrg);
        emit ProposalCreated(id, kind, org, payload, p.expiresAt, proposerOrg);
        emit ProposalApproved(id, proposerOrg, msg.sender);
    }

    function _openProposal(uint256 id) private view returns (Proposal storage p) {
        if (id >= _proposals.length) revert ConsortiumUnknownProposal(id);
        p = _proposals[id];
        if (p.executed) revert ConsortiumProposalAlreadyExecuted(id);
        if (block.timestamp > p.expiresAt) revert ConsortiumProposalExpired(id, p.expiresAt);
    }

    function _validApprovals(Proposal storage p) private view returns (uint256 n) {
        for (uint256 i = 0; i < p.approvers.length; ++i) {
            Organisation storage o = _orgs[p.approvers[i]];
            if (o.member && o.roles & _roleBit(ADMIN_ROLE) != 0) ++n;
        }
    }

    /// @dev Reverts with the reason `kind` on `org` cannot be carried out now.
    function _check(ProposalKind kind, bytes32 org, bytes memory payload) private view {
        if (kind == ProposalKind.Admit) {
            (string memory name, bytes32[] memory roles, address[] memory keys) =
                abi.decode(payload, (string, bytes32[], address[]));
            _checkAdmit(org, name, roles, keys);
            return;
        }
        if (kind == ProposalKind.SetQuorum) {
            uint256 q = abi.decode(payload, (uint256));
            if (q == 0 || q > _adminCount) revert ConsortiumInvalidQuorum(q, _adminCount);
            return;
        }
        Organisation storage o = _orgs[org];
        if (!o.member) revert ConsortiumNotMember(org);
        if (kind == ProposalKind.Remove) {
            if (o.roles & _roleBit(ADMIN_ROLE) != 0 && _adminCount - 1 < _quorum) {
                revert ConsortiumQuorumUnreachable(_adminCount - 1, _quorum);
            }
        } else if (kind == ProposalKind.GrantRole) {
            bytes32 role = abi.decode(payload, (bytes32));
            uint8 bit = _roleBit(role);
            if (bit == 0) revert ConsortiumUnknownRole(role);
            if (o.roles & bit != 0) revert ConsortiumRoleAlreadyGranted(org, role);
        } else if (kind == ProposalKind.RevokeRole) {
            bytes32 role = abi.decode(payload, (bytes32));
            uint8 bit = _roleBit(role);
            if (bit == 0) revert ConsortiumUnknownRole(role);
            if (o.roles & bit == 0) revert ConsortiumRoleNotGranted(org, role);
            if (role == ADMIN_ROLE && _adminCount - 1 < _quorum) {
                revert ConsortiumQuorumUnreachable(_adminCount - 1, _quorum);
            }
        } else if (kind == ProposalKind.AddKey) {
            _checkNewKey(org, abi.decode(payload, (address)));
        } else {
            _checkPrefix(abi.decode(payload, (bytes32)));
        }
    }

    function _apply(ProposalKind kind, bytes32 org, bytes memory payload) private {
        if (kind == ProposalKind.Admit) {
            (string memory name, bytes32[] memory roles, address[] memory keys) =
                abi.decode(payload, (string, bytes32[], address[]));
            _admit(org, name, roles, keys);
        } else if (kind == ProposalKind.Remove) {
            _remove(org);
        } else if (kind == ProposalKind.GrantRole) {
            _grantOrgRole(org, abi.decode(payload, (bytes32)));
        } else if (kind == ProposalKind.RevokeRole) {
            _revokeOrgRole(org, abi.decode(payload, (bytes32)));
        } else if (kind == ProposalKind.SetQuorum) {
            uint256 q = abi.decode(payload, (uint256));
            emit QuorumChanged(_quorum, q);
            _quorum = q;
        } else if (kind == ProposalKind.AddKey) {
            _addKey(org, abi.decode(payload, (address)));
        } else {
            _assignPrefix(org, abi.decode(payload, (bytes32)));
        }
    }

    function _checkAdmit(bytes32 org, string memory name, bytes32[] memory roles, address[] memory keys)
        private
        view
    {
        if (!GS1.isGln(org)) revert ConsortiumInvalidOrgId(org);
        if (_orgs[org].member) revert ConsortiumAlreadyMember(org);
        uint256 len = bytes(name).length;
        if (len == 0 || len > MAX_NAME_LENGTH) revert ConsortiumInvalidName(org, len);
        uint8 seen;
        for (uint256 i = 0; i < roles.length; ++i) {
            uint8 bit = _roleBit(roles[i]);
            if (bit == 0) revert ConsortiumUnknownRole(roles[i]);
            if (seen & bit != 0) revert ConsortiumRoleAlreadyGranted(org, roles[i]);
            seen |= bit;
        }
        for (uint256 i = 0; i < keys.length; ++i) {
            _checkNewKey(org, keys[i]);
            for (uint256 j = 0; j < i; ++j) {
                if (keys[j] == keys[i]) revert ConsortiumKeyAlreadyRegistered(keys[i], org);
            }
        }
    }

    function _admit(bytes32 org, string memory name, bytes32[] memory roles, address[] memory keys) private {
        Organisation storage o = _orgs[org];
        o.name = name;
        o.member = true;
        o.exists = true;
        _membership[org].push(Window(uint64(block.timestamp), 0));
        emit OrganisationAdmitted(org, name);
        for (uint256 i = 0; i < roles.length; ++i) {
            _grantOrgRole(org, roles[i]);
        }
        for (uint256 i = 0; i < keys.length; ++i) {
            _addKey(org, keys[i]);
        }
    }

    function _remove(bytes32 org) private {
        Organisation storage o = _orgs[org];
        bytes32[5] memory all = [ADMIN_ROLE, ENTERPRISE_ROLE, CUSTOMS_ROLE, REGULATOR_ROLE, ANCHORER_ROLE];
        for (uint256 i = 0; i < 5; ++i) {
            if (o.roles & _roleBit(all[i]) != 0) _revokeOrgRole(org, all[i]);
        }
        // A removed organisation's keys are revoked with it: anything that reads a key's
        // validity (keyInfo, activeOrgOfKey, wasValidSigner, the gateways) sees it ended.
        address[] storage keys = _orgKeys[org];
        for (uint256 i = 0; i < keys.length; ++i) {
            Key storage k = _keys[keys[i]];
            if (k.revokedAt != 0) continue;
            k.revokedAt = uint64(block.timestamp);
            k.revokedBlock = uint64(block.number);
            emit KeyRevoked(org, keys[i], msg.sender);
        }
        o.member = false;
        Window[] storage w = _membership[org];
        w[w.length - 1].until = uint64(block.timestamp);
        emit OrganisationRemoved(org);
    }

    function _grantOrgRole(bytes32 org, bytes32 role) private {
        uint8 bit = _roleBit(role);
        _orgs[org].roles |= bit;
        _roleWindows[org][bit].push(Window(uint64(block.timestamp), 0));
        if (role == ADMIN_ROLE) ++_adminCount;
        emit OrganisationRoleGranted(org, role);
    }

    function _revokeOrgRole(bytes32 org, bytes32 role) private {
        uint8 bit = _roleBit(role);
        _orgs[org].roles &= ~bit;
        Window[] storage w = _roleWindows[org][bit];
        w[w.length - 1].until = uint64(block.timestamp);
        if (role == ADMIN_ROLE) --_adminCount;
        emit OrganisationRoleRevoked(org, role);
    }

    function _checkNewKey(bytes32 org, address key) private view {
        if (key == address(0)) revert ConsortiumZeroKey(org);
        bytes32 holder = _keys[key].org;
        if (holder != 0) revert ConsortiumKeyAlreadyRegistered(key, holder);
    }

    function _addKey(bytes32 org, address key) private {
        _keys[key] = Key(org, uint64(block.timestamp), uint64(block.number), 0, 0);
        _orgKeys[org].push(key);
        emit KeyAdded(org, key, msg.sender);
    }

    function _checkPrefix(bytes32 prefix) private view {
        if (!GS1.isCompanyPrefix(prefix)) revert ConsortiumInvalidPrefix(prefix);
        bytes32 owner = _prefixOwner[prefix];
        if (owner != 0) revert ConsortiumPrefixTaken(prefix, owner);
        bytes32 longer = _extendedBy[prefix];
        if (longer != 0) revert ConsortiumPrefixOverlaps(prefix, longer);
        uint256 len = GS1.prefixLength(prefix);
        for (uint256 l = 4; l < len; ++l) {
            bytes32 shorter = _truncate(prefix, l);
            if (_prefixOwner[shorter] != 0) revert ConsortiumPrefixOverlaps(prefix, shorter);
        }
    }

    function _assignPrefix(bytes32 org, bytes32 prefix) private {
        _prefixOwner[prefix] = org;
        _orgPrefixes[org].push(prefix);
        uint256 len = GS1.prefixLength(prefix);
        for (uint256 l = 4; l < len; ++l) {
            bytes32 shorter = _truncate(prefix, l);
            if (_extendedBy[shorter] == 0) _extendedBy[shorter] = prefix;
        }
        emit CompanyPrefixAssigned(prefix, org);
    }

    function _truncate(bytes32 value, uint256 len) private pure returns (bytes32) {
        return value & bytes32(~(type(uint256).max >> (8 * len)));
    }

    function _within(Window[] storage windows, uint64 t) private view returns (bool) {
        // Newest first: signatures are mostly recent, and histories are short.
        for (uint256 i = windows.length; i > 0; --i) {
            Window storage w = windows[i - 1];
            if (t >= w.from) return w.until == 0 || t < w.until;
        }
        return false;
    }

    function _roleBit(bytes32 role) private pure returns (uint8) {
        if (role == ADMIN_ROLE) return 1;
        if (role == ENTERPRISE_ROLE) return 2;
        if (role == CUSTOMS_ROLE) return 4;
        if (role == REGULATOR_ROLE) return 8;
        if (role == ANCHORER_ROLE) return 16;
        return 0;
    }
}
