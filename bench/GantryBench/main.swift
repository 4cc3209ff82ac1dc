// Replaced by the benchmark driver.
print("gantry-bench")
