# The jq side of the benchmark (SPEC §8): what a hand-written jq script does
# to turn Segment NDJSON into Planhat activity items without an API token,
# as `segment-planhat send --dry-run` does: drop what Planhat is switched
# off for, resolve the user and company, name page and screen views, keep
# the properties. It skips what jq makes hard (dedupe, the user → company
# memory, date normalisation, batching), so it is a generous baseline.
#
#   jq -c -f bench/map.jq corpus.ndjson

def given: . != null and . != "";
def text_id: if type == "number" then tostring elif type == "string" and . != "" then . else null end;

(.type // "" | ascii_downcase) as $type
| select($type == "track" or $type == "page" or $type == "screen" or $type == "identify")
| select(((.integrations // {}) | (.Planhat // .All // true)) != false)
| (if $type == "identify" then (.traits // {}) else (.context.traits // {}) end) as $t
| ((.userId | text_id) // ($t.userId | text_id) // ($t.user_id | text_id) // ($t.id | text_id)) as $ext
| ([$t.email, .context.traits.email, (if $type == "identify" then null else .properties.email end)]
   | map(select(given)) | first) as $email
| select($ext != null or $email != null)
| ((.context.groupId | text_id) // ($t.company.id | text_id) // ($t.companyId | text_id)) as $company
| ([.timestamp, .originalTimestamp, .receivedAt, .sentAt] | map(select(given)) | first) as $date
| {
    externalId: $ext, id: $ext, email: $email,
    name: ($t.name // (if $t.firstName and $t.lastName then "\($t.firstName) \($t.lastName)" else null end)),
    companyExternalId: $company, cId: $company,
    action: (
      if $type == "track" then .event
      elif $type == "page" then
        (if (.name | given) then "Viewed \(if (.category | given) then "\(.category) " else "" end)\(.name) Page" else "Loaded a Page" end)
      elif $type == "screen" then
        (if (.name | given) then "Viewed \(.name) Screen" else "Loaded a Screen" end)
      else null end),
    date: $date,
    info: (if $type == "identify" then null
           elif $type == "track" then (.properties // {})
           else (.properties // {}) + ({name, category} | with_entries(select(.value | given))) end),
    source: "Segment"
  }
| with_entries(select(.value != null))
