
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'segment-planhat' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'segment-planhat'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'segment-planhat' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('send', 'send', [CompletionResultType]::ParameterValue, 'Translate messages and send them to Planhat (or print them with --dry-run)')
            [CompletionResult]::new('validate', 'validate', [CompletionResultType]::ParameterValue, 'Read and map messages without sending; report what would happen')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'segment-planhat;send' {
            [CompletionResult]::new('--tenant-token', '--tenant-token', [CompletionResultType]::ParameterName, 'Planhat tenant token (needed to send activities)')
            [CompletionResult]::new('--tenant-token-file', '--tenant-token-file', [CompletionResultType]::ParameterName, 'Read the tenant token from a file')
            [CompletionResult]::new('--subdomain', '--subdomain', [CompletionResultType]::ParameterName, 'Main API host label: https://<SUBDOMAIN>.planhat.com (api-eu, api-us2, ... for other clusters)')
            [CompletionResult]::new('--api-url', '--api-url', [CompletionResultType]::ParameterName, 'Base URL of the main API, replacing the one built from --subdomain')
            [CompletionResult]::new('--analytics-url', '--analytics-url', [CompletionResultType]::ParameterName, 'Base URL of the analytics API [default: https://analytics.planhat.com]')
            [CompletionResult]::new('--api-token', '--api-token', [CompletionResultType]::ParameterName, 'Planhat API access token; with it, identify and group also update end-user and company profiles')
            [CompletionResult]::new('--api-token-file', '--api-token-file', [CompletionResultType]::ParameterName, 'Read the API access token from a file')
            [CompletionResult]::new('--source-label', '--source-label', [CompletionResultType]::ParameterName, 'The `source` written on every item; an empty label omits it [default: the mapping file''s source_label, else Segment]')
            [CompletionResult]::new('--map', '--map', [CompletionResultType]::ParameterName, 'A mapping file (TOML): event actions, weights and drops, trait → field mappings, and metrics from events ("The mapping file" in the documentation shows one)')
            [CompletionResult]::new('--shard', '--shard', [CompletionResultType]::ParameterName, 'Keep only shard K of N (K from 0), split by a stable hash of each user''s identity (a group call''s by its groupId), to run N processes side by side. Every shard learns every user''s company and link')
            [CompletionResult]::new('--dedupe-window', '--dedupe-window', [CompletionResultType]::ParameterName, 'Skip a message whose messageId is among the last N distinct ones; 0 turns deduplication off')
            [CompletionResult]::new('--types', '--types', [CompletionResultType]::ParameterName, 'Keep only these message types (comma-separated)')
            [CompletionResult]::new('--since', '--since', [CompletionResultType]::ParameterName, 'Keep only events at or after this time (RFC 3339 or a date, UTC when no zone is given)')
            [CompletionResult]::new('--until', '--until', [CompletionResultType]::ParameterName, 'Keep only events before this time')
            [CompletionResult]::new('--max-line-bytes', '--max-line-bytes', [CompletionResultType]::ParameterName, 'Longest line read, in bytes; a longer line is rejected line_too_long without being held in memory')
            [CompletionResult]::new('--batch-size', '--batch-size', [CompletionResultType]::ParameterName, 'Items per activity or metric request, at most; the default leaves it to --max-body-bytes. Upsert requests hold at most 5000')
            [CompletionResult]::new('--max-body-bytes', '--max-body-bytes', [CompletionResultType]::ParameterName, 'Bytes per request body, at most (Planhat''s hard limit is 32 MB, about 150,000 events): activity and metric requests are filled to it')
            [CompletionResult]::new('--flush-interval', '--flush-interval', [CompletionResultType]::ParameterName, 'Send a batch once its oldest event has waited this long (e.g. 2s, 500ms)')
            [CompletionResult]::new('--failed', '--failed', [CompletionResultType]::ParameterName, 'Append rejected and failed messages to this file (created only when needed)')
            [CompletionResult]::new('--checkpoint', '--checkpoint', [CompletionResultType]::ParameterName, 'Record progress here after each delivered request, and what the run learned beside it (PATH.memory) when it ends, so that a rerun over the same, grown export reads only what is new: sources it covers in full are not read, a file that only grew is read from where it ended, the same stdin stream resumes. One run at a time holds it; the --failed file is cut back to the length it records. A rerun with other --map, --stitch, --types, --since, --until, --ignore-integrations, --dedupe-window, --receiver, --shard or API token is refused (--restart starts over)')
            [CompletionResult]::new('--max-retries', '--max-retries', [CompletionResultType]::ParameterName, 'Retries of a request after a 408, 429, 500, 502, 503, 504 or transport error')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Timeout of each request (e.g. 30s)')
            [CompletionResult]::new('--api-rate', '--api-rate', [CompletionResultType]::ParameterName, 'Requests in any minute to the main API (/endusers, /companies, /dock/segment), and at most 50 in any second; Planhat''s soft quota is 200 a minute')
            [CompletionResult]::new('--progress', '--progress', [CompletionResultType]::ParameterName, 'When to draw the progress bar on stderr')
            [CompletionResult]::new('--summary-json', '--summary-json', [CompletionResultType]::ParameterName, 'Also write the final summary as JSON to this file')
            [CompletionResult]::new('--receiver', '--receiver', [CompletionResultType]::ParameterName, 'Hand each message to Planhat''s own Segment receiver (https://<SUBDOMAIN>.planhat.com/dock/segment) instead of translating it')
            [CompletionResult]::new('--stitch', '--stitch', [CompletionResultType]::ParameterName, 'Attribute anonymous messages (no userId or email, only an anonymousId) to the user a message with both ids, or an alias, links that anonymousId to. Input files are read twice, so a link found anywhere in them counts; standard input is read once, so there only links from earlier lines apply')
            [CompletionResult]::new('--ignore-integrations', '--ignore-integrations', [CompletionResultType]::ParameterName, 'Send messages even when their `integrations` object turns Planhat off')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print the requests that would be sent, one JSON object per line, and send nothing. Needs no token')
            [CompletionResult]::new('--pretty', '--pretty', [CompletionResultType]::ParameterName, 'Indent --dry-run output')
            [CompletionResult]::new('--restart', '--restart', [CompletionResultType]::ParameterName, 'With --checkpoint: start over, reading and sending everything, even though inputs or options changed since it was written, or an older version wrote it')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'segment-planhat;validate' {
            [CompletionResult]::new('--api-token', '--api-token', [CompletionResultType]::ParameterName, 'Planhat API access token; with it, identify and group also update end-user and company profiles')
            [CompletionResult]::new('--api-token-file', '--api-token-file', [CompletionResultType]::ParameterName, 'Read the API access token from a file')
            [CompletionResult]::new('--source-label', '--source-label', [CompletionResultType]::ParameterName, 'The `source` written on every item; an empty label omits it [default: the mapping file''s source_label, else Segment]')
            [CompletionResult]::new('--map', '--map', [CompletionResultType]::ParameterName, 'A mapping file (TOML): event actions, weights and drops, trait → field mappings, and metrics from events ("The mapping file" in the documentation shows one)')
            [CompletionResult]::new('--shard', '--shard', [CompletionResultType]::ParameterName, 'Keep only shard K of N (K from 0), split by a stable hash of each user''s identity (a group call''s by its groupId), to run N processes side by side. Every shard learns every user''s company and link')
            [CompletionResult]::new('--dedupe-window', '--dedupe-window', [CompletionResultType]::ParameterName, 'Skip a message whose messageId is among the last N distinct ones; 0 turns deduplication off')
            [CompletionResult]::new('--types', '--types', [CompletionResultType]::ParameterName, 'Keep only these message types (comma-separated)')
            [CompletionResult]::new('--since', '--since', [CompletionResultType]::ParameterName, 'Keep only events at or after this time (RFC 3339 or a date, UTC when no zone is given)')
            [CompletionResult]::new('--until', '--until', [CompletionResultType]::ParameterName, 'Keep only events before this time')
            [CompletionResult]::new('--max-line-bytes', '--max-line-bytes', [CompletionResultType]::ParameterName, 'Longest line read, in bytes; a longer line is rejected line_too_long without being held in memory')
            [CompletionResult]::new('--checkpoint', '--checkpoint', [CompletionResultType]::ParameterName, 'Report what a rerun of send with this checkpoint would read and send: the sources new or grown since its last run, and the usual counts for their lines. Reads the checkpoint and its memory; writes nothing')
            [CompletionResult]::new('--receiver', '--receiver', [CompletionResultType]::ParameterName, 'Hand each message to Planhat''s own Segment receiver (https://<SUBDOMAIN>.planhat.com/dock/segment) instead of translating it')
            [CompletionResult]::new('--stitch', '--stitch', [CompletionResultType]::ParameterName, 'Attribute anonymous messages (no userId or email, only an anonymousId) to the user a message with both ids, or an alias, links that anonymousId to. Input files are read twice, so a link found anywhere in them counts; standard input is read once, so there only links from earlier lines apply')
            [CompletionResult]::new('--ignore-integrations', '--ignore-integrations', [CompletionResultType]::ParameterName, 'Send messages even when their `integrations` object turns Planhat off')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the report as one JSON object')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'segment-planhat;completions' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'segment-planhat;help' {
            [CompletionResult]::new('send', 'send', [CompletionResultType]::ParameterValue, 'Translate messages and send them to Planhat (or print them with --dry-run)')
            [CompletionResult]::new('validate', 'validate', [CompletionResultType]::ParameterValue, 'Read and map messages without sending; report what would happen')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'segment-planhat;help;send' {
            break
        }
        'segment-planhat;help;validate' {
            break
        }
        'segment-planhat;help;completions' {
            break
        }
        'segment-planhat;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
