"""MQTT input of the twin: subscribe to every cell's v1 topics, hand each
message to ``Twin.handle``. The only module of the twin that uses paho-mqtt
(2.x, callback API version 2, passed explicitly; one loop style: the paho
network thread started by ``loop_start``).

Subscription: ``platewise/v1/+/+`` at QoS 1. The session is persistent by
default (``clean_session=False`` with a fixed client id), so the broker queues
QoS 1 messages while the twin is away; redeliveries are duplicates the twin
counts and stores once.

Output (``publish_estimates=True``, as ``platewise twin run`` does): the
twin's estimates are published through the same client on
``platewise/v1/<cell>/twin`` (QoS 1), and come back through the
subscription, where the twin stores them as its own ``twin`` stream.

Failure behaviour: every link fault surfaces as ``MqttLinkError``, raised
only by ``start()``: connection refused or unreachable, the broker refusing
the CONNECT (bad credentials), the SUBSCRIBE refused, or no SUBACK within
``timeout_s``. After start, paho reconnects by itself and ``on_connect``
subscribes again; disconnects are logged and counted. A message the twin
cannot take is its business (it never raises); should anything still raise
in the callback it is logged and counted, never allowed to kill the paho
thread.
"""

import logging
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from platewise.shared.telemetry import subscription

SUBSCRIPTION = subscription()  # platewise/v1/+/+
QOS = 1


class MqttLinkError(RuntimeError):
    """The twin could not connect or subscribe; str(e) says to what and why."""


class TwinSubscriber:
    """Feeds a Twin from a broker."""

    def __init__(
        self,
        twin,
        host,
        port,
        client_id="platewise-twin",
        username=None,
        password=None,
        keepalive_s=30,
        clean_session=False,
        logger=None,
        publish_estimates=False,
    ):
        if not isinstance(port, int) or not 0 < port < 65536:
            raise ValueError("port must be an integer in 1..65535, got %r" % (port,))
        self.twin = twin
        self.host = host
        self.port = port
        self.keepalive_s = keepalive_s
        self.log = logger if logger is not None else logging.getLogger("platewise.twin.mqtt")
        self.connects = 0
        self.disconnects = 0
        self.callback_errors = 0
        self._subscribed = threading.Event()
        self._failure = None  # reason the broker gave, for start() to raise
        self._started = False
        c = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=clean_session,
            protocol=mqtt.MQTTv311,
        )
        # A twin that is down misses nothing (the broker queues for its
        # persistent session), but its view goes stale: retry every 1-4 s
        # rather than paho's default backoff of up to two minutes.
        c.reconnect_delay_set(min_delay=1, max_delay=4)
        if username is not None:
            c.username_pw_set(username, password)
        c.on_connect = self._on_connect
        c.on_subscribe = self._on_subscribe
        c.on_message = self._on_message
        c.on_disconnect = self._on_disconnect
        self.client = c
        # The twin's own estimates go out on platewise/v1/<cell>/twin through
        # this client when asked (off by default: a twin that hears its own
        # messages stores them as its "twin" stream, which callers counting
        # board messages by kind must expect).
        if publish_estimates and getattr(twin, "publish", None) is None:
            twin.publish = self.publish
        self.published = 0

    def publish(self, topic, payload):
        """Publish one twin message at QoS 1 (paho queues it while the link is down)."""
        self.client.publish(topic, payload, qos=QOS)
        self.published += 1

    # -- paho callbacks (paho's network thread) -------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            self._failure = "broker refused the connection: %s" % reason_code
            self.log.error("twin mqtt: %s", self._failure)
            self._subscribed.set()  # wake start() to report it
            return
        self.connects += 1
        # Subscribe on every (re)connect: a broker without our session has
        # forgotten the subscription.
        result, _mid = client.subscribe(SUBSCRIPTION, qos=QOS)
        if result != mqtt.MQTT_ERR_SUCCESS:
            self.log.error("twin mqtt: subscribe not sent: %s", mqtt.error_string(result))

    def _on_subscribe(self, client, userdata, mid, reason_code_list, properties):
        failed = [rc for rc in reason_code_list if rc.is_failure]
        if failed:
            self._failure = "broker refused the subscription to %s: %s" % (SUBSCRIPTION, failed[0])
            self.log.error("twin mqtt: %s", self._failure)
        self._subscribed.set()

    def _on_message(self, client, userdata, message):
        try:
            try:
                topic = message.topic
            except UnicodeDecodeError:
                topic = bytes(message._topic)  # the twin rejects it with a reason
            self.twin.handle(topic, message.payload, bool(message.retain))
        except Exception:
            self.callback_errors += 1
            self.log.exception("twin mqtt: message handler failed")

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self.disconnects += 1
        if self._started:
            self.log.warning("twin mqtt: disconnected from %s:%d (%s); paho reconnects", self.host, self.port, reason_code)

    # -- control ------------------------------------------------------------

    def start(self, timeout_s=10.0):
        """Connect, start the network thread, return once subscribed; MqttLinkError otherwise."""
        where = "%s:%d" % (self.host, self.port)
        self._subscribed.clear()
        self._failure = None
        try:
            self.client.connect(self.host, self.port, keepalive=self.keepalive_s)
        except OSError as e:
            raise MqttLinkError("cannot connect to MQTT broker %s: %s" % (where, e)) from e
        self.client.loop_start()
        if not self._subscribed.wait(timeout_s):
            self._halt()
            raise MqttLinkError("no SUBACK from MQTT broker %s within %.1f s" % (where, timeout_s))
        if self._failure is not None:
            self._halt()
            raise MqttLinkError("MQTT broker %s: %s" % (where, self._failure))
        self._started = True
        self.log.info("twin mqtt: subscribed to %s on %s", SUBSCRIPTION, where)
        return self

    def _halt(self):
        self._started = False
        self.client.disconnect()
        self.client.loop_stop()

    def stop(self):
        """Disconnect, stop the network thread, commit the twin's open batch."""
        self._halt()
        self.twin.flush()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class Publisher:
    """A plain QoS 1 publisher (benchmarks and tools): connect, publish, close.

    Raises MqttLinkError if the broker cannot be reached.
    """

    def __init__(self, host, port, client_id="platewise-publisher", max_inflight=1000):
        c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
        c.max_inflight_messages_set(max_inflight)
        c.max_queued_messages_set(0)  # 0: unbounded queue, nothing dropped
        try:
            c.connect(host, port)
        except OSError as e:
            raise MqttLinkError("cannot connect to MQTT broker %s:%d: %s" % (host, port, e)) from e
        c.loop_start()
        self.client = c

    def publish(self, topic, payload):
        return self.client.publish(topic, payload, qos=QOS)

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()
