"""Runtime values (Envoy's layered runtime): hotproxy has one layer, the admin layer that
POST /runtime_modify edits. Sans-IO."""
from __future__ import annotations


class Runtime:
    LAYERS = ("admin",)

    def __init__(self):
        self.admin_layer = {}

    def modify(self, values):
        """Set each key to its value; an empty value removes the key (as Envoy does)."""
        for key, value in values.items():
            if value == "":
                self.admin_layer.pop(key, None)
            else:
                self.admin_layer[key] = value

    def dump(self):
        """The /runtime JSON body."""
        return {"layers": list(self.LAYERS),
                "entries": {key: {"layer_values": [value], "final_value": value}
                            for key, value in sorted(self.admin_layer.items())}}
