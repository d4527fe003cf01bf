"""The fault injector itself: a schedule hits the messages it names, and every damaged image is one the
node-side converter refuses with the broken field named (so the relay tests inject what they claim)."""
from __future__ import annotations

import re

import numpy as np
import pytest

from inspection.nodes.ros_convert import ImageConversionError, image_to_rgb8, numpy_to_image
from tests.faults import FaultSchedule, ImageFields, damage_image


def test_schedule_hits_the_first_messages_then_the_rest() -> None:
    schedule = FaultSchedule(("drop", "empty"), then="drop")
    assert [schedule.fault(i) for i in range(4)] == ["drop", "empty", "drop", "drop"]
    assert FaultSchedule().fault(10) == "pass"
    with pytest.raises(ValueError, match="unknown fault"):
        FaultSchedule(("explode",))


@pytest.mark.parametrize(("fault", "message"), [
    ("wrong_size", "data has 9600 bytes, expected step*height = 19200"),
    ("wrong_step", "step 40 is smaller than width*channels*bytes = 120"),
    ("wrong_encoding", "encoding 'yuv422_yuy2' is not supported"),
    ("empty", "data has 0 bytes"),
])
def test_each_damaged_image_is_refused_naming_the_field(fault: str, message: str) -> None:
    good = numpy_to_image(np.zeros((80, 40, 3), np.uint8), "rgb8")
    damaged = damage_image(ImageFields(good.height, good.width, good.encoding, good.step, bytes(good.data)), fault)
    good.height, good.width, good.encoding, good.step, good.data = (damaged.height, damaged.width, damaged.encoding,
                                                                    damaged.step, damaged.data)
    with pytest.raises(ImageConversionError, match=re.escape(message)):
        image_to_rgb8(good)
