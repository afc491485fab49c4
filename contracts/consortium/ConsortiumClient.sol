// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IConsortium} from "./IConsortium.sol";

/**
 * @dev Base of every contract whose callers are judged by the Consortium. `onlyRole` mirrors
 * OpenZeppelin's AccessControl modifier and reverts with the same
 * {IAccessControl-AccessControlUnauthorizedAccount} error, so a client decodes one error for a
 * missing role whichever contract refused.
 */
abstract contract ConsortiumClient {
    /// @notice The Consortium this contract takes organisations, keys and roles from.
    IConsortium public immutable consortium;

    modifier onlyRole(bytes32 role) {
        _checkRole(role, msg.sender);
        _;
    }

    constructor(IConsortium consortium_) {
        consortium = consortium_;
    }

    function _checkRole(bytes32 role, address account) internal view {
        if (!consortium.hasRole(role, account)) {
            revert IAccessControl.AccessControlUnauthorizedAccount(account, role);
        }
    }
}
