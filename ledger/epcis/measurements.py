"""Measurement types of EPCIS 2.0 sensor reports whose units Zhenzhi converts (UN/ECE
Recommendation 20 codes), shared by the cold chain (`ledger.trade.coldchain`) and the store's
sensor readings index (`ledger.store.sensor_index`)."""

from __future__ import annotations

__all__ = ["MEASUREMENTS", "TYPE_PREFIXES"]

# measurement type -> (canonical unit, {unit: (factor, offset)}): canonical = value*factor + offset
MEASUREMENTS: dict[str, tuple[str, dict[str, tuple[float, float]]]] = {
    "Temperature": ("CEL", {"CEL": (1.0, 0.0), "KEL": (1.0, -273.15),
                            "FAH": (5.0 / 9.0, -160.0 / 9.0)}),
    "RelativeHumidity": ("P1", {"P1": (1.0, 0.0)}),
    "AbsoluteHumidity": ("A93", {"A93": (1.0, 0.0)}),
    "Acceleration": ("MSK", {"MSK": (1.0, 0.0), "K40": (9.80665, 0.0)}),
}
# How a measurement type may be written besides its bare word (`gs1:Temperature`, its IRI).
TYPE_PREFIXES = ("https://gs1.org/voc/", "http://gs1.org/voc/", "gs1:")
