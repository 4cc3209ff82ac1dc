import Foundation

/// The dashboard's page frame: one inline stylesheet, one small script of
/// our own (`/ui/live.js`: the page follows the controller over server-sent
/// events instead of reloading), a layout that reads on a laptop and
/// reflows on a phone (tables scroll sideways inside their section rather
/// than the page). Buttons are plain forms: they work without the script.
enum Page {
    static func render(title: String, caller: String?, body: String) -> String {
        """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
                <title>\(title.html) · Gantry</title>
        <link rel="icon" href="data:,">
        <style>\(style)</style>
        \(caller == nil ? "" : "<script src=\"/ui/live.js\" defer></script>")
        </head>
        <body>
        <header><a class="brand" href="/">Gantry</a><span class="who">\(caller.map { "signed in as \($0.html) · <a href=\"/logout\">sign out</a>" } ?? "")</span></header>
        <main>
        \(body)
        </main>
        </body>
        </html>
        """
    }

    static func badge(_ status: String) -> String {
        "<span class=\"badge b-\(status.lowercased())\">\(status.html)</span>"
    }

    static func table(_ headers: [String], _ rows: [[String]], empty: String) -> String {
        guard !rows.isEmpty else { return "<p class=\"muted\">\(empty.html)</p>" }
        let head = headers.map { "<th>\($0.html)</th>" }.joined()
        let body = rows.map { "<tr>" + $0.map { "<td>\($0)</td>" }.joined() + "</tr>" }.joined(separator: "\n")
        return "<div class=\"scroll\"><table><thead><tr>\(head)</tr></thead><tbody>\n\(body)\n</tbody></table></div>"
    }

    static func time(_ date: Date?) -> String {
        guard let date else { return "–" }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd HH:mm:ss 'UTC'"
        return "<time datetime=\"\(ISO8601DateFormatter().string(from: date))\">\(f.string(from: date))</time>"
    }

    static let style = """
        :root{--fg:#1d2430;--muted:#5b6575;--line:#dde2ea;--bg:#f6f7f9;--card:#fff;--ok:#17813d;--warn:#a15c00;--bad:#b42318;--info:#2457c5}
        *{box-sizing:border-box}body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
        header{display:flex;flex-wrap:wrap;gap:.5rem;justify-content:space-between;align-items:center;padding:.7rem 1rem;background:#1d2430;color:#fff}
        header a{color:#fff}.brand{font-weight:700;text-decoration:none;font-size:1.1rem}.who{font-size:.85rem;opacity:.85}
        main{max-width:1200px;margin:0 auto;padding:1rem}
        section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:.8rem 1rem;margin:0 0 1rem}
        h1{font-size:1.35rem;margin:.2rem 0 1rem}h2{font-size:1.05rem;margin:.1rem 0 .6rem}
        .grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(160px,1fr));gap:.6rem}
        .stat{border:1px solid var(--line);border-radius:6px;padding:.5rem .7rem}.stat b{display:block;font-size:1.2rem}
        .scroll{overflow-x:auto}table{border-collapse:collapse;width:100%;min-width:520px}
        th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}th{font-size:.8rem;color:var(--muted);font-weight:600}
        code{font:13px ui-monospace,SFMono-Regular,Menlo,monospace;word-break:break-all}.muted{color:var(--muted)}
        .badge{display:inline-block;padding:0 .45rem;border-radius:999px;font-size:.78rem;font-weight:600;border:1px solid}
        .b-synced,.b-healthy,.b-applied,.b-succeeded,.b-nothing-to-do,.b-ok{color:var(--ok)}
        .b-outofsync,.b-warning,.b-suspended,.b-running,.b-interrupted{color:var(--warn)}
        .b-degraded,.b-missing,.b-failed,.b-invalid,.b-error,.b-stopping{color:var(--bad)}.b-unknown{color:var(--muted)}
        ul.plan{padding-left:1.2rem;margin:.3rem 0}svg{max-width:100%;height:auto;display:block}
        .charts{display:flex;flex-wrap:wrap;gap:1rem}
        form.login{display:flex;flex-wrap:wrap;gap:.5rem}form.login input{flex:1 1 240px;padding:.45rem;font:inherit}
        form.login button{padding:.45rem 1rem;font:inherit}
        form.act{display:inline-flex;gap:.3rem;margin:0 .3rem .3rem 0}form.act input{width:8rem;padding:.2rem;font:inherit}
        form.act button{padding:.2rem .6rem;font:inherit;cursor:pointer}form.act button.danger{color:var(--bad)}.actions{margin-top:.6rem}
        .flash{padding:.5rem .8rem;border-radius:6px;border:1px solid}.flash.ok{color:var(--ok)}.flash.bad{color:var(--bad)}
        pre.log{overflow-x:auto;max-height:30rem;overflow-y:auto;font:12px ui-monospace,SFMono-Regular,Menlo,monospace;white-space:pre-wrap}
        @media (max-width:600px){main{padding:.5rem}section{padding:.6rem}body{font-size:14px}}
        """
}
