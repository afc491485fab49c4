// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

// Roles are held by organisations, never by bare addresses; a key acts with its organisation's
// roles. Each is keccak256 of its plain name so that off-chain code can derive them without an ABI.
bytes32 constant ADMIN_ROLE = keccak256("ADMIN");
bytes32 constant ENTERPRISE_ROLE = keccak256("ENTERPRISE");
bytes32 constant CUSTOMS_ROLE = keccak256("CUSTOMS");
bytes32 constant REGULATOR_ROLE = keccak256("REGULATOR");
bytes32 constant ANCHORER_ROLE = keccak256("ANCHORER");
