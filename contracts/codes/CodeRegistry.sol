// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {ConsortiumClient} from "../consortium/ConsortiumClient.sol";
import {IConsortium} from "../consortium/IConsortium.sol";
import {ENTERPRISE_ROLE, REGULATOR_ROLE} from "../consortium/Roles.sol";
import {GS1} from "../gs1/GS1.sol";

/**
 * @title CodeRegistry
 * @notice Item-code commitments per lot: the Merkle root over `keccak256(keccak256(
 * "01/<GTIN-14>/21/<serial>"))` of every serialised item of a lot, registered only by the
 * organisation that owns the GTIN's GS1 company prefix (a member that counterfeits another
 * brand still cannot register its codes), and the lot's status.
 *
 * An enterprise registers either with its own transaction ({registerLot}) or by signing an
 * EIP-712 `RegisterLot` message that anyone, e.g. the gateway, relays ({registerLotWithSig});
 * the contract checks the signature, so the relay gains no authority.
 *
 * The same prefix owner also registers the digest of each version of its product conditions
 * per GTIN (`ledger/trade/conditions.py`: the allowed temperature, humidity and shock ranges it
 * signs off chain), versions strictly increasing and never overwritten, each with the time it
 * was registered: a verifier then knows which version was the brand's latest at any moment,
 * so a gateway can neither serve an older or altered version nor withhold the newest.
 */
contract CodeRegistry is ConsortiumClient, EIP712, Nonces {
    enum LotStatus {
        Unregistered,
        Active,
        Recalled,
        Withdrawn
    }

    struct Lot {
        bytes32 codesRoot;
        bytes32 org;
        bytes32 reasonHash; // set by a recall
        uint32 count;
        uint64 registeredAt;
        LotStatus status;
    }

    bytes32 public constant REGISTER_LOT_TYPEHASH = keccak256(
        "RegisterLot(string gtin,string lot,bytes32 codesRoot,uint32 count,uint256 nonce,uint256 deadline)"
    );

    /// @notice One registered version of a GTIN's product conditions.
    struct ConditionsVersion {
        bytes32 conditionsHash; // keccak256 of the exact JSON text the brand signed
        bytes32 org;
        uint32 version;
        uint64 registeredAt;
    }

    mapping(bytes32 lotKey => Lot) private _lots;
    mapping(bytes32 gtinKey => ConditionsVersion[]) private _conditions;

    event LotRegistered(
        bytes32 indexed lotKey, bytes32 indexed org, string gtin, string lot, bytes32 codesRoot, uint32 count, address signer
    );
    event LotRecalled(bytes32 indexed lotKey, bytes32 reasonHash, address by);
    event LotWithdrawn(bytes32 indexed lotKey, address by);
    event ConditionsRegistered(
        bytes32 indexed gtinKey, bytes32 indexed org, string gtin, uint32 version, bytes32 conditionsHash, address signer
    );

    error CodeRegistryInvalidGtin(string gtin);
    error CodeRegistryInvalidLot(string lot);
    error CodeRegistryEmptyLot(bytes32 lotKey);
    error CodeRegistryUnassignedPrefix(string gtin);
    error CodeRegistryNotPrefixOwner(bytes32 org, bytes32 prefix);
    error CodeRegistryOrgBlacklisted(bytes32 org);
    error CodeRegistryLotExists(bytes32 lotKey);
    error CodeRegistryUnknownLot(bytes32 lotKey);
    error CodeRegistryLotNotActive(bytes32 lotKey, LotStatus status);
    error CodeRegistryNotLotOwner(address caller, bytes32 lotKey);
    error CodeRegistryExpiredSignature(uint256 deadline);
    error CodeRegistryInvalidSigner(address recovered, address signer);
    error CodeRegistryZeroConditionsHash(string gtin);
    error CodeRegistryConditionsVersionNotHigher(string gtin, uint32 version, uint32 latest);
    error CodeRegistryUnknownConditionsVersion(bytes32 gtinKey, uint256 index);

    constructor(IConsortium consortium_) ConsortiumClient(consortium_) EIP712("Zhenzhi CodeRegistry", "1") {}

    /**
     * @notice Register the codes of lot `lot` of `gtin` as the caller's organisation.
     * @param codesRoot Merkle root over the lot's item-code leaves.
     * @param count number of codes under `codesRoot`.
     * Requirements: see {registerLotWithSig}, with the caller as signer.
     * Emits: {LotRegistered}.
     */
    function registerLot(string calldata gtin, string calldata lot, bytes32 codesRoot, uint32 count)
        external
        returns (bytes32 lotKey)
    {
        return _register(Registration(gtin, lot, codesRoot, count, msg.sender));
    }

    /**
     * @notice Register a lot on behalf of `signer`, who signed EIP-712 `RegisterLot` with its
     * next nonce ({nonces}) in this contract's domain (name "Zhenzhi CodeRegistry", version "1",
     * this chain id and address).
     * Requirements: `block.timestamp <= deadline`; `signature` recovers to `signer` with low s;
     * `signer` holds ENTERPRISE; `gtin` is a valid GTIN-14 and `lot` 1-20 characters of GS1
     * set 82; the signer's organisation owns the GTIN's company prefix and is not blacklisted;
     * `codesRoot` and `count` non-zero; the lot is not registered yet.
     * Emits: {LotRegistered}.
     */
    function registerLotWithSig(
        string calldata gtin,
        string calldata lot,
        bytes32 codesRoot,
        uint32 count,
        address signer,
        uint256 deadline,
        bytes calldata signature
    ) external returns (bytes32 lotKey) {
        if (block.timestamp > deadline) revert CodeRegistryExpiredSignature(deadline);
        bytes32 structHash = keccak256(
            abi.encode(
                REGISTER_LOT_TYPEHASH,
                keccak256(bytes(gtin)),
                keccak256(bytes(lot)),
                codesRoot,
                count,
                _useNonce(signer),
                deadline
            )
        );
        address recovered = ECDSA.recover(_hashTypedDataV4(structHash), signature);
        if (recovered != signer) revert CodeRegistryInvalidSigner(recovered, signer);
        return _register(Registration(gtin, lot, codesRoot, count, signer));
    }

    /**
     * @notice Recall a lot, citing the hash of the recall notice.
     * Requirements: the lot is active; the caller is an active key of the owning organisation
     * or holds REGULATOR.
     * Emits: {LotRecalled}.
     */
    function recallLot(string calldata gtin, string calldata lot, bytes32 reasonHash) external {
        bytes32 key = lotKey(gtin, lot);
        Lot storage l = _activeLot(key);
        if (consortium.activeOrgOfKey(msg.sender) != l.org && !consortium.hasRole(REGULATOR_ROLE, msg.sender)) {
            revert CodeRegistryNotLotOwner(msg.sender, key);
        }
        l.status = LotStatus.Recalled;
        l.reasonHash = reasonHash;
        emit LotRecalled(key, reasonHash, msg.sender);
    }

    /**
     * @notice Withdraw a lot from the market (the owner's decision, no recall).
     * Requirements: the lot is active; the caller is an active key of the owning organisation.
     * Emits: {LotWithdrawn}.
     */
    function withdrawLot(string calldata gtin, string calldata lot) external {
        bytes32 key = lotKey(gtin, lot);
        Lot storage l = _activeLot(key);
        if (consortium.activeOrgOfKey(msg.sender) != l.org) revert CodeRegistryNotLotOwner(msg.sender, key);
        l.status = LotStatus.Withdrawn;
        emit LotWithdrawn(key, msg.sender);
    }

    /**
     * @notice Register version `version` of the caller's organisation's product conditions for
     * `gtin`: `conditionsHash` is the keccak256 of the exact text it signed.
     * Requirements: the caller holds ENTERPRISE; `gtin` is a valid GTIN-14; its organisation
     * owns the GTIN's company prefix and is not blacklisted; `conditionsHash` non-zero;
     * `version` above every version registered for `gtin` (so from 1).
     * Emits: {ConditionsRegistered}.
     */
    function registerConditions(string calldata gtin, uint32 version, bytes32 conditionsHash) external {
        _checkRole(ENTERPRISE_ROLE, msg.sender);
        if (!GS1.isGtin14(bytes(gtin))) revert CodeRegistryInvalidGtin(gtin);
        if (conditionsHash == 0) revert CodeRegistryZeroConditionsHash(gtin);
        bytes32 org = consortium.orgOfKey(msg.sender);
        if (consortium.isBlacklisted(org)) revert CodeRegistryOrgBlacklisted(org);
        (bytes32 owner, bytes32 prefix) = consortium.gtinOwner(gtin);
        if (owner == 0) revert CodeRegistryUnassignedPrefix(gtin);
        if (owner != org) revert CodeRegistryNotPrefixOwner(org, prefix);
        bytes32 key = keccak256(bytes(gtin));
        ConditionsVersion[] storage versions = _conditions[key];
        uint32 latest = versions.length == 0 ? 0 : versions[versions.length - 1].version;
        if (version <= latest) revert CodeRegistryConditionsVersionNotHigher(gtin, version, latest);
        versions.push(ConditionsVersion(conditionsHash, org, version, uint64(block.timestamp)));
        emit ConditionsRegistered(key, org, gtin, version, conditionsHash, msg.sender);
    }

    /// @notice How many versions of conditions are registered under `gtinKey` = keccak256(gtin).
    function conditionsCount(bytes32 gtinKey) external view returns (uint256) {
        return _conditions[gtinKey].length;
    }

    /// @notice The `index`-th registered version under `gtinKey` (oldest first).
    function conditionsAt(bytes32 gtinKey, uint256 index) external view returns (ConditionsVersion memory) {
        ConditionsVersion[] storage versions = _conditions[gtinKey];
        if (index >= versions.length) revert CodeRegistryUnknownConditionsVersion(gtinKey, index);
        return versions[index];
    }

    /// @notice keccak256("<gtin>/10/<lot>"): the key of a lot.
    function lotKey(string calldata gtin, string calldata lot) public pure returns (bytes32) {
        return keccak256(abi.encodePacked(gtin, "/10/", lot));
    }

    /// @notice The leaf of one item code: keccak256(keccak256("01/<gtin>/21/<serial>")).
    function codeLeaf(string calldata gtin, string calldata serial) public pure returns (bytes32) {
        return keccak256(abi.encodePacked(keccak256(abi.encodePacked("01/", gtin, "/21/", serial))));
    }

    function lotOf(bytes32 key) external view returns (Lot memory) {
        return _lots[key];
    }

    /// @notice True if the lot is registered and `proof` proves `leaf` among its codes (any status).
    function verifyCode(bytes32 key, bytes32 leaf, bytes32[] calldata proof) public view returns (bool) {
        bytes32 root = _lots[key].codesRoot;
        return root != 0 && MerkleProof.verifyCalldata(proof, root, leaf);
    }

    /// @notice {verifyCode} for the item `01/<gtin>/21/<serial>` of lot `lot`.
    function verifySerial(string calldata gtin, string calldata lot, string calldata serial, bytes32[] calldata proof)
        external
        view
        returns (bool)
    {
        return verifyCode(lotKey(gtin, lot), codeLeaf(gtin, serial), proof);
    }

    /// @notice The EIP-712 digest `signer` signs for {registerLotWithSig} with nonce `nonce`.
    function registerLotDigest(
        string calldata gtin,
        string calldata lot,
        bytes32 codesRoot,
        uint32 count,
        uint256 nonce,
        uint256 deadline
    ) external view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    REGISTER_LOT_TYPEHASH, keccak256(bytes(gtin)), keccak256(bytes(lot)), codesRoot, count, nonce, deadline
                )
            )
        );
    }

    /// @dev Registration arguments in memory: one stack word instead of seven keeps the
    /// legacy code generator (fast builds, no viaIR) within the stack limit.
    struct Registration {
        string gtin;
        string lot;
        bytes32 codesRoot;
        uint32 count;
        address signer;
    }

    function _register(Registration memory r) private returns (bytes32 key) {
        _checkRole(ENTERPRISE_ROLE, r.signer);
        if (!GS1.isGtin14(bytes(r.gtin))) revert CodeRegistryInvalidGtin(r.gtin);
        if (!GS1.isCset82(bytes(r.lot))) revert CodeRegistryInvalidLot(r.lot);
        key = keccak256(abi.encodePacked(r.gtin, "/10/", r.lot));
        if (r.codesRoot == 0 || r.count == 0) revert CodeRegistryEmptyLot(key);
        bytes32 org = consortium.orgOfKey(r.signer);
        if (consortium.isBlacklisted(org)) revert CodeRegistryOrgBlacklisted(org);
        (bytes32 owner, bytes32 prefix) = consortium.gtinOwner(r.gtin);
        if (owner == 0) revert CodeRegistryUnassignedPrefix(r.gtin);
        if (owner != org) revert CodeRegistryNotPrefixOwner(org, prefix);
        Lot storage l = _lots[key];
        if (l.status != LotStatus.Unregistered) revert CodeRegistryLotExists(key);
        l.codesRoot = r.codesRoot;
        l.org = org;
        l.count = r.count;
        l.registeredAt = uint64(block.timestamp);
        l.status = LotStatus.Active;
        emit LotRegistered(key, org, r.gtin, r.lot, r.codesRoot, r.count, r.signer);
    }

    function _activeLot(bytes32 key) private view returns (Lot storage l) {
        l = _lots[key];
        if (l.status == LotStatus.Unregistered) revert CodeRegistryUnknownLot(key);
        if (l.status != LotStatus.Active) revert CodeRegistryLotNotActive(key, l.status);
    }
}
