"""verify_op's options: none is accepted and ignored."""

import pytest

from funcnet.core.registry import Arg
from funcnet.verify import verify_op


def test_args_for_a_registered_name_are_a_type_error():
    with pytest.raises(TypeError, match="verify: args apply to an Op object; the registered op"):
        verify_op("relu", (Arg((3,)),))


def test_second_order_applies_to_registered_cases(x64):
    checks = {e.check for c in verify_op("merge_heads", second_order=True).cases for e in c.errors}
    assert "second_order" in checks
    plain = {e.check for c in verify_op("merge_heads").cases for e in c.errors}
    assert "second_order" not in plain
