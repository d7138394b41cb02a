"""A Google Cloud Storage emulator on localhost, for the tests.

    python -m tests.gcs_emulator PORT BUCKET

serves gcp-storage-emulator's in-memory storage with one bucket until it is
terminated. Its object downloads are given the `x-goog-generation` header
that Cloud Storage sends and tensorstore's gcs driver (orbax's checkpoint
writes) reads back for its conditional writes; gcsfs needs nothing more.
"""

import sys

from gcp_storage_emulator import server
from gcp_storage_emulator.handlers import objects

_download = objects.download


def download(request, response, storage, *args, **kwargs):
  _download(request, response, storage, *args, **kwargs)
  try:
    obj = storage.get_file_obj(request.params['bucket_name'],
                               request.params['object_id'])
  except Exception:  # pylint: disable=broad-except
    return  # not found: the response says so already
  response['x-goog-generation'] = obj['generation']
  response['x-goog-metageneration'] = obj['metageneration']


def main(port: int, bucket: str) -> None:
  objects.download = download  # objects.get calls it for ?alt=media
  for _, handlers in server.HANDLERS:
    for method, handler in handlers.items():
      if handler is _download:
        handlers[method] = download
  server.create_server('127.0.0.1', port, in_memory=True,
                       default_bucket=bucket).run()


if __name__ == '__main__':
  main(int(sys.argv[1]), sys.argv[2])
