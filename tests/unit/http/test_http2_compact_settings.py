"""CompactSettings (hotproxy/http/http2/library_connection.py) keeps jh2's settings in lists
instead of deques: the same answers to every call the codecs make, in a fraction of the memory
(two settings objects per HTTP/2 connection, idle ones included)."""
import sys

import pytest
from jh2.settings import ChangedSetting, SettingCodes, Settings

from hotproxy.http.http2.library_connection import CompactSettings

INITIAL = {SettingCodes.HEADER_TABLE_SIZE: 4096, SettingCodes.INITIAL_WINDOW_SIZE: 65535,
           SettingCodes.MAX_FRAME_SIZE: 16384}


def exercise(settings):
    """What a connection's life does to its settings; everything observable along the way."""
    seen = [dict(settings), settings.initial_window_size, settings.max_concurrent_streams]
    settings[SettingCodes.INITIAL_WINDOW_SIZE] = 1 << 20        # sent, not yet acknowledged
    settings[SettingCodes.MAX_CONCURRENT_STREAMS] = 100         # a setting it did not have
    seen += [settings.initial_window_size, settings.max_concurrent_streams]
    changed = settings.acknowledge()   # ChangedSetting has no __eq__: compared by its repr
    seen += [sorted((key, repr(value)) for key, value in changed.items()), settings.initial_window_size,
             settings.max_concurrent_streams]
    seen += [settings.acknowledge(), len(settings), sorted(settings)]
    return seen


@pytest.mark.parametrize("client", [True, False])
def test_it_answers_as_jh2s_settings_do(client):
    assert exercise(CompactSettings(client, INITIAL)) == exercise(Settings(client, INITIAL))
    changed = CompactSettings(client, INITIAL)
    changed[SettingCodes.INITIAL_WINDOW_SIZE] = 1
    assert repr(changed.acknowledge()[SettingCodes.INITIAL_WINDOW_SIZE]) == repr(ChangedSetting(
        SettingCodes.INITIAL_WINDOW_SIZE, 65535, 1))


def test_a_setting_created_by_a_pending_value_is_missing_until_acknowledged():
    settings = CompactSettings(True, INITIAL)
    settings[SettingCodes.ENABLE_CONNECT_PROTOCOL] = 1
    with pytest.raises(KeyError):
        settings[SettingCodes.ENABLE_CONNECT_PROTOCOL]
    settings.acknowledge()
    assert settings[SettingCodes.ENABLE_CONNECT_PROTOCOL] == 1


def test_each_settings_values_take_a_small_list_not_a_deque_block():
    settings = CompactSettings(False, INITIAL)
    settings[SettingCodes.MAX_CONCURRENT_STREAMS] = 100
    library = Settings(False, INITIAL)
    ours = sum(sys.getsizeof(values) for values in settings._settings.values())
    theirs = sum(sys.getsizeof(values) for values in library._settings.values())
    assert ours * 5 < theirs
