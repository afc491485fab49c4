// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/**
 * @dev GS1 identifier checks used on chain: GLN organisation ids, company prefixes, GTIN-14 and
 * lot numbers (AI 10). Identifiers are handled as ASCII, exactly as they appear in a Digital
 * Link, so that off-chain code hashes the very same bytes.
 */
library GS1 {
    // Bit c is set when ASCII character c belongs to GS1 character set 82 (lots and serials).
    uint256 private constant CSET82 = 0x7fffffe87fffffeffffffe600000000;

    /// @dev True if `id` is 13 ASCII digits with a valid mod-10 check digit, then zero bytes.
    function isGln(bytes32 id) internal pure returns (bool) {
        uint256 sum;
        for (uint256 i = 0; i < 13; ++i) {
            uint8 c = uint8(id[i]);
            if (c < 0x30 || c > 0x39) return false;
            // Weights run 3,1,3,... from the digit left of the check digit.
            if (i < 12) sum += (c - 0x30) * (i % 2 == 0 ? 1 : 3);
            else if ((10 - (sum % 10)) % 10 != c - 0x30) return false;
        }
        return uint256(id) << 104 == 0;
    }

    /// @dev True if `prefix` is 4 to 12 ASCII digits followed only by zero bytes.
    function isCompanyPrefix(bytes32 prefix) internal pure returns (bool) {
        uint256 n;
        while (n < 32 && prefix[n] != 0) {
            uint8 c = uint8(prefix[n]);
            if (c < 0x30 || c > 0x39) return false;
            ++n;
        }
        return n >= 4 && n <= 12 && (n == 32 || uint256(prefix) << (8 * n) == 0);
    }

    /// @dev Length of a zero-padded ASCII prefix.
    function prefixLength(bytes32 prefix) internal pure returns (uint256 n) {
        while (n < 32 && prefix[n] != 0) ++n;
    }

    /// @dev True if `gtin` is 14 ASCII digits with a valid mod-10 check digit.
    function isGtin14(bytes memory gtin) internal pure returns (bool) {
        if (gtin.length != 14) return false;
        uint256 sum;
        for (uint256 i = 0; i < 14; ++i) {
            uint8 c = uint8(gtin[i]);
            if (c < 0x30 || c > 0x39) return false;
            if (i < 13) sum += (c - 0x30) * (i % 2 == 0 ? 3 : 1);
            else if ((10 - (sum % 10)) % 10 != c - 0x30) return false;
        }
        return true;
    }

    /// @dev True if `value` is 1 to 20 characters of GS1 character set 82 (AI 10 and AI 21).
    function isCset82(bytes memory value) internal pure returns (bool) {
        if (value.length == 0 || value.length > 20) return false;
        for (uint256 i = 0; i < value.length; ++i) {
            uint8 c = uint8(value[i]);
            if (c > 127 || (CSET82 >> c) & 1 == 0) return false;
        }
        return true;
    }
}
