// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

/**
 * @dev What the other Zhenzhi contracts ask the Consortium. `hasRole(role, key)` is true when
 * `key` is an unrevoked key of a member organisation that currently holds `role`.
 */
interface IConsortium is IAccessControl {
    /// @dev The organisation a key was ever registered to (keys never move), or zero.
    function orgOfKey(address key) external view returns (bytes32);

    /// @dev The organisation of `key` if the key is unrevoked and the organisation a member, else zero.
    function activeOrgOfKey(address key) external view returns (bytes32);

    function isBlacklisted(bytes32 org) external view returns (bool);

    /// @dev The owner of the company prefix inside a GTIN-14, and that prefix; zeros if none.
    function gtinOwner(string calldata gtin14) external view returns (bytes32 org, bytes32 prefix);

    /// @dev Whether `key` could sign for `org` acting as `role` at unix time `timestamp`.
    function wasValidSigner(bytes32 org, address key, bytes32 role, uint64 timestamp)
        external
        view
        returns (bool);
}
