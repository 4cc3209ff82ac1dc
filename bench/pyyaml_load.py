"""PyYAML with libyaml's C loader over every .yaml file under a directory:
read and parse each into Python objects (no validation), as Python GitOps
tools do. Prints: seconds documents files."""
import os
import sys
import time

import yaml

if not yaml.__with_libyaml__:
    sys.exit("PyYAML was built without libyaml; CSafeLoader is unavailable")

root = sys.argv[1]
start = time.perf_counter()
documents = files = 0
for directory, subdirs, names in os.walk(root):
    subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
    for name in sorted(names):
        if name.endswith((".yaml", ".yml")):
            with open(os.path.join(directory, name), "rb") as f:
                documents += sum(1 for d in yaml.load_all(f.read(), Loader=yaml.CSafeLoader) if d is not None)
            files += 1
print(f"{time.perf_counter() - start:.6f} {documents} {files}")
