import Foundation

/// Writes bench/RESULTS.md from the scenarios' JSON results: the command,
/// date and machine, every figure, every ratio, each against its goal.
enum Report {
    static func write(results: String, environment: String, command: String, to path: String) throws {
        let env = (try? String(contentsOfFile: environment, encoding: .utf8)) ?? ""
        var md = """
            # Gantry benchmarks: results

            Every figure below was produced by one command, `\(command)`, on the
            machine described here; `bench/README.md` says what each scenario
            measures and how. Times are medians of alternating runs (min–max in
            the detail tables); each contestant ran in the same run as Gantry.

            ## Run

            | | |
            |---|---|

            """
        for line in env.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            md += "| \(line[..<colon]) | \(line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)) |\n"
        }
        md += "\n## Summary\n\n| scenario | goal | Gantry | baselines | verdict |\n|---|---|---|---|---|\n"
        var sections = ""
        if let r = ScenarioResult.read("change", from: results) { summarise(change: r, &md, &sections) }
        if let r = ScenarioResult.read("noop", from: results) {
            summarise(noop: r, deployments: ScenarioResult.read("noop-deployments", from: results), &md, &sections)
        }
        if let r = ScenarioResult.read("cold", from: results) { summarise(cold: r, &md, &sections) }
        if let r = ScenarioResult.read("webhook", from: results) { summarise(webhook: r, &md, &sections) }
        if let r = ScenarioResult.read("memory", from: results) { summarise(memory: r, &md, &sections) }
        md += sections
        try md.write(toFile: path, atomically: true, encoding: .utf8)
    }

    static func table(_ series: [Series]) -> String {
        var out = "| contestant | median | min | max | runs |\n|---|---|---|---|---|\n"
        for s in series {
            out += "| \(s.name) | \(ms(s.median)) | \(ms(s.min)) | \(ms(s.max)) | \(s.samples.count) |\n"
        }
        return out
    }

    /// The facts not already shown in a table.
    static func facts(_ r: ScenarioResult) -> String {
        r.facts.filter { !$0.key.hasPrefix("rss after ") && !$0.key.hasPrefix("anonymous after ") }
            .sorted { $0.key < $1.key }.map { "- \($0.key): \($0.value)\n" }.joined()
    }

    static func verdict(_ ok: Bool) -> String { ok ? "met" : "**not met**" }

    static func summarise(change r: ScenarioResult, _ md: inout String, _ sections: inout String) {
        guard let g = r[ChangeToPlan.gantry], let all = r[ChangeToPlan.all], let changed = r[ChangeToPlan.changed] else { return }
        let vsAll = all.median / g.median
        let vsChanged = changed.median / g.median
        md += "| 1. one manifest changed, push to plan ready | ≤ 30 ms; ≥ 50x git CLI + decode all; faster than git CLI + decode changed "
        md += "| \(ms(g.median)) | decode all \(ms(all.median)) (\(ratio(vsAll))); decode changed \(ms(changed.median)) (\(ratio(vsChanged))) "
        md += "| \(verdict(g.median <= 0.030)) / \(verdict(vsAll >= 50)) / \(verdict(vsChanged > 1)) |\n"
        sections += """

            ## 1. One manifest changed: push to plan ready

            A developer's clone commits a one-line change (one model's `epochs`)
            and pushes it to a bare repository served by `git daemon` on
            127.0.0.1. When the push returns, each contestant brings itself up to
            date. Gantry: `GitSource.fetch()` (libgit2 fetch into its bare cache,
            then decode what changed) and `Reconciler.plan` (lineages, observed
            state, plan), in-process with the warm caches a controller has; the
            plan must retrain exactly the changed model. The git command-line
            baselines: `git fetch`, `git diff --name-only HEAD origin/main`,
            `git reset --hard origin/main`, then the same in-process decoder
            (`ManifestDecoder.decode` + `ManifestSet.assemble`) over every
            manifest, or over the changed files only. The baselines fetch over
            `file://` from the same bare repository, the fastest transport git
            has here, and stop when the manifests are decoded and checked,
            before any planning, so the ratios favour them. Gantry fetches over
            `git://` from the daemon. "Fetch only" is libgit2's fetch and `git
            daemon` answering it (a fresh `git upload-pack` and `git
            pack-objects` per fetch), before anything is decoded. The git CLI's
            fetch alone is shown over each transport: `file://` (inside both
            baselines), `git://` from the same daemon, and smart HTTP through
            `git http-backend` (bench/git-http.py, one CGI run per request, as
            a forge's web server does). Over `git://`, git 2.39's fetch stalls
            about 40 ms on the kernel's delayed acknowledgement of a small
            write (visible as a gap in `GIT_TRACE_PACKET`); Gantry's own
            `git://` stream sets `TCP_NODELAY` and does not wait.

            \(table(r.series))
            Ratios: git CLI + decode all / Gantry = \(ratio(vsAll)); git CLI + decode changed / Gantry = \(ratio(vsChanged)).

            \(facts(r))
            """
    }

    static func summarise(noop r: ScenarioResult, deployments: ScenarioResult?, _ md: inout String, _ sections: inout String) {
        guard let g = r[NoOp.gantry], let cli = r[NoOp.cli] else { return }
        md +=
            "| 2. no-op reconcile, 10,000 models | ≤ 10 ms | \(ms(g.median)) | git fetch + diff \(ms(cli.median)) (\(ratio(cli.median / g.median))) | \(verdict(g.median <= 0.010)) |\n"
        if let d = deployments, let dg = d[NoOp.gantry] {
            md += "| 2b. no-op, 10,000 models and 10,000 serving deployments | ≤ 10 ms | \(ms(dg.median)) | — | \(verdict(dg.median <= 0.010)) |\n"
        }
        sections += """

            ## 2. No-op reconcile of 10,000 models

            The repository without Deployments (10,000 Models in 1,000 files,
            100 Pipelines, 200 Datasets), every model already at a version whose
            lineage matches, nothing new pushed: one controller loop's fetch and
            plan, which must be empty. The git command line's no-op (`git fetch`
            over `file://`, its fastest transport here, and an empty `git diff
            --name-only`) is shown for scale, with its fetch alone over `git://`
            and smart HTTP.

            \(table(r.series))
            \(facts(r))
            """
        if let d = deployments {
            sections += """

                ### 2b. With 10,000 Deployments serving

                The full repository with every Deployment recorded as serving its
                pinned version. Observing a Deployment checks that its serving
                process and forwarder run and, once per probe period (the health
                check's `interval`, 30 s by default), probes its health check over
                HTTP; one real endpoint on 127.0.0.1 (Python's threaded
                `http.server`) stands in for all 10,000 serving processes. The
                first plan probes every one; the measured plans follow it within
                the period.

                \(table(d.series))
                \(facts(d))
                """
        }
    }

    static func summarise(webhook r: ScenarioResult, _ md: inout String, _ sections: inout String) {
        guard let g = r.series.first else { return }
        let p50 = WebhookScenario.percentile(g.samples, 0.50)
        let p99 = WebhookScenario.percentile(g.samples, 0.99)
        md += "| 4. webhook to first action, 10,000 models | p99 ≤ 100 ms | p50 \(ms(p50)), p99 \(ms(p99)) | — | \(verdict(p99 <= 0.100)) |\n"
        sections += """

            ## 4. Webhook received to first action dispatched

            A running controller (the real `ControllerLoop` and `GantryServer`,
            in one process, idle on an hour's interval) follows the 10,000-model
            repository that `git daemon` serves. Each round pushes a one-line
            change to one model and sends a signed generic webhook for it; the
            clock runs from sending the webhook to the reconciler announcing its
            first action (that model's train), just before the driver is called.
            The path in between is the webhook's check, waking the loop, the
            fetch, the desired and observed state, and the plan. The training's
            runner is a stand-in that exits at once, and the version is then
            registered as in scenario 1, so that every round starts in sync.

            \(table(r.series))
            p50 \(ms(p50)), p99 \(ms(p99)) over \(g.samples.count) pushes.

            \(facts(r))
            """
    }

    static func summarise(cold r: ScenarioResult, _ md: inout String, _ sections: inout String) {
        guard let g = r[ColdDecode.gantry], let py = r[ColdDecode.pyyaml], let floor = r[ColdDecode.floor] else { return }
        let vsFloor = g.median / floor.median
        let vsPy = py.median / g.median
        // Gantry uses both cores and the floor one: judged on CPU time (the
        // work done) and on wall time (what a user waits), each against the
        // floor's.
        let cpu = r["Gantry: CPU time"].map(\.median) ?? .nan
        let floorCPU = r["libyaml events (C): CPU time"].map(\.median) ?? .nan
        let vsFloorCPU = cpu / floorCPU
        md += "| 3. cold decode + validation of every manifest | CPU time ≤ 2x the libyaml floor's; wall time ≤ 1x the floor's; ≥ 5x PyYAML "
        md += "| \(ms(g.median)) wall, \(ms(cpu)) CPU | floor \(ms(floor.median)) wall, \(ms(floorCPU)) CPU (Gantry \(ratio(vsFloorCPU)) of its CPU time, "
        md += "\(ratio(vsFloor)) of its wall time); PyYAML \(ms(py.median)) (\(ratio(vsPy)) slower) "
        md += "| \(verdict(vsFloorCPU <= 2)) / \(verdict(vsFloor <= 1)) / \(verdict(vsPy >= 5)) |\n"
        sections += """

            ## 3. Cold decode and validation of every manifest

            Each contestant is a fresh process that walks the same directory,
            reads every `.yaml` file and times its own work (start-up excluded).
            Gantry runs `DirectoryLoader.load`, what `gantry validate` does:
            parse with libyaml, decode into typed objects, validate each object
            and check references between them. PyYAML parses with libyaml's C
            loader (`yaml.CSafeLoader`) into Python objects and validates nothing.
            The floor is a C loop over libyaml's events that builds nothing, on
            one core; Gantry decodes on both, so it is judged on CPU time (the
            sum of its threads' time against the floor's: ≤ 2x) and on wall
            time (≤ 1x the floor's, since it has twice the cores).

            \(table(r.series))
            Ratios: Gantry / floor = \(ratio(vsFloorCPU)) by CPU time, \(ratio(vsFloor)) by wall time; PyYAML / Gantry = \(ratio(vsPy)).

            \(facts(r))
            """
    }

    static func summarise(memory r: ScenarioResult, _ md: inout String, _ sections: inout String) {
        let at100 = Double(r.facts["rss after 100"] ?? "") ?? .nan
        let last = Int(r.facts["reconciles"] ?? "") ?? 1000
        let atLast = Double(r.facts["rss after \(last)"] ?? "") ?? .nan
        let growth = atLast - at100
        md += "| 5. resident memory, 10,000 models, \(last) reconciles | ≤ 100 MiB; no growth from 100 to \(last) "
        md += "| \(String(format: "%.1f", atLast)) MiB; \(String(format: "%+.1f", growth)) MiB from 100 to \(last) | — "
        md += "| \(verdict(atLast <= 100)) / \(verdict(growth <= 1)) |\n"
        let checkpoints = r.facts.keys.compactMap { k -> Int? in k.hasPrefix("rss after ") ? Int(k.dropFirst(10)) : nil }.sorted()
        var rows = "| after reconcile | VmRSS | of which anonymous (RssAnon) |\n|---|---|---|\n"
        for n in checkpoints { rows += "| \(n) | \(r.facts["rss after \(n)"]!) MiB | \(r.facts["anonymous after \(n)"] ?? "?") MiB |\n" }
        sections += """

            ## 5. Resident memory of a controller holding 10,000 models

            One process runs \(last) controller loops (fetch, plan) over the
            repository of 10,000 Models, every one at a matching version. Every
            tenth loop follows a pushed commit that edits one models file, so the
            manifest cache turns over. VmRSS is read from /proc/self/status. No
            growth means at most 1 MiB more after reconcile \(last) than after 100.

            \(rows)
            \(table(r.series))
            \(facts(r))
            """
    }
}
