"""A real SMTP server on loopback for the email connector suite.

python3 smtp_sink.py OUT_DIR PORT

Runs aiosmtpd on 127.0.0.1:PORT and writes every accepted mail to
OUT_DIR/NNNNNN.json (written to a temporary name, then renamed): the envelope
(mail_from, rcpt_tos), the headers as Python's email package decodes them, the
decoded text body, the content type and charset, the parser's defects and the
raw message. Recipients whose local part starts with "rejected" get a
permanent 550, with "busy" a transient 451.
"""
import itertools
import json
import os
import signal
import sys
import threading
from email import message_from_bytes, policy

from aiosmtpd.controller import Controller

out_dir, port = sys.argv[1], int(sys.argv[2])
counter = itertools.count(len([n for n in os.listdir(out_dir) if n.endswith(".json")]))


class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@")[0]
        if local.startswith("rejected"):
            return "550 5.1.1 <%s>: mailbox unavailable" % address
        if local.startswith("busy"):
            return "451 4.3.0 mailbox busy, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        msg = message_from_bytes(raw, policy=policy.default)
        body_part = msg.get_body(("plain",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "headers": {k: str(v) for k, v in msg.items()},
            "header_names": [k for k, _ in msg.items()],
            "content_type": msg.get_content_type(),
            "charset": msg.get_content_charset(),
            "body": body_part.get_content() if body_part is not None else None,
            "defects": [type(d).__name__ for d in msg.defects],
            "raw": raw.decode("utf-8", "replace"),
        }
        n = next(counter)
        tmp = os.path.join(out_dir, ".%06d.tmp" % n)
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record, f, ensure_ascii=False)
        os.rename(tmp, os.path.join(out_dir, "%06d.json" % n))
        return "250 Message accepted for delivery"


controller = Controller(Handler(), hostname="127.0.0.1", port=port)
controller.start()
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
signal.signal(signal.SIGINT, lambda *_: stop.set())
stop.wait()
controller.stop()
