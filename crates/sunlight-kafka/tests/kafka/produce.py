"""An independent Kafka client for the tests: produces JSON lines with the Python
confluent-kafka client, keyed by official_id (lines that are not JSON objects get no
key). Usage: produce.py BROKERS TOPIC FILE. Prints the number of records delivered."""

import json
import sys

from confluent_kafka import Producer


def main():
    brokers, topic, path = sys.argv[1:4]
    producer = Producer({"bootstrap.servers": brokers, "enable.idempotence": True})
    failed = []

    def on_delivery(err, _msg):
        if err is not None:
            failed.append(err)

    count = 0
    with open(path, "rb") as lines:
        for line in lines:
            line = line.rstrip(b"\n")
            try:
                key = json.loads(line).get("official_id")
            except (ValueError, AttributeError):
                key = None
            producer.produce(topic, value=line, key=key, on_delivery=on_delivery)
            producer.poll(0)
            count += 1
    producer.flush(30)
    if failed:
        sys.exit(f"{len(failed)} records not delivered: {failed[0]}")
    print(count)


if __name__ == "__main__":
    main()
