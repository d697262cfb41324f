"""The Wi-Fi supervisor: joins, keeps the setup access point up while it can't, closes it
once joined, rejoins after a drop (both runtimes, a simulated radio)."""
import asyncio

from dynevse.wifi import WifiSupervisor


class Radio:
    """Joins succeed from attempt ``ok_from`` on; ``drop()`` loses the link."""

    def __init__(self, ok_from):
        self.ok_from = ok_from
        self.joins = 0
        self.up = False
        self.ap = []          # access point up/down, in order
        self.synced = 0

    def wifi_join(self, wifi):
        self.joins += 1
        self.up = self.joins >= self.ok_from

    def wifi_address(self):
        return "192.168.1.20" if self.up else None

    def start_access_point(self, ssid, password):
        self.ap.append(("up", ssid))

    def stop_access_point(self):
        self.ap.append(("down",))

    def sync_time(self):
        self.synced += 1


WIFI = {"ssid": "home", "password": "pw", "hostname": "dynevse", "ap_ssid": "DynEVSE-setup", "ap_password": ""}


def run_for(sup, seconds, during=None):
    async def main():
        t = asyncio.create_task(sup.run())
        if during:
            await asyncio.sleep(seconds / 2)
            during()
            await asyncio.sleep(seconds / 2)
        else:
            await asyncio.sleep(seconds)
        t.cancel()
        try:
            await t
        except asyncio.CancelledError:
            pass
    asyncio.run(main())


def test_access_point_while_the_network_cant_be_joined_then_closed():
    radio = Radio(ok_from=3)      # the router comes back at the third attempt
    sup = WifiSupervisor(radio, WIFI, join_wait_ms=20, retry_ms=30, check_ms=10)
    run_for(sup, 0.4)
    assert radio.joins >= 3 and sup.address == "192.168.1.20"
    # opened once after the first failure, closed once joined: never left open for good
    assert radio.ap == [("up", "DynEVSE-setup"), ("down",)]
    assert radio.synced == 1 and not sup.access_point


def test_a_lost_link_is_joined_again():
    radio = Radio(ok_from=1)
    sup = WifiSupervisor(radio, WIFI, join_wait_ms=20, retry_ms=30, check_ms=10)

    def drop():
        radio.up = False
    run_for(sup, 0.4, during=drop)
    assert radio.joins == 2 and sup.address == "192.168.1.20" and radio.ap == []


def test_no_network_configured_opens_the_access_point():
    radio = Radio(ok_from=1)
    sup = WifiSupervisor(radio, dict(WIFI, ssid=""), join_wait_ms=20, retry_ms=30, check_ms=10)
    run_for(sup, 0.1)
    assert radio.joins == 0 and radio.ap == [("up", "DynEVSE-setup")]
