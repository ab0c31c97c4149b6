// URL pieces sessionize needs (host, path, campaign parameters), parsed by hand because most urls are plain paths.

export interface UrlParts {
  /** Lower-case host without a leading "www.", "" for relative urls. */
  host: string;
  /** The path without query string or fragment ("/" when an absolute url has none). */
  path: string;
  utmSource: string | null;
  utmMedium: string | null;
  utmCampaign: string | null;
  gclid: string | null;
}

const CAMPAIGN_PARAMETER = /(?:^|&)(?:utm_|gclid=)/;

/** Splits an absolute ("https://host/p?q"), protocol-relative ("//host/p") or relative ("/p?q") url. */
export function parseUrlParts(url: string): UrlParts {
  let rest = url;
  let host = "";
  const schemeEnd = url.indexOf("://");
  const authorityStart = schemeEnd > 0 && schemeEnd < 16 ? schemeEnd + 3 : url.startsWith("//") ? 2 : -1;
  if (authorityStart >= 0) {
    let authorityEnd = authorityStart;
    while (authorityEnd < url.length && !"/?#".includes(url[authorityEnd])) authorityEnd++;
    host = url.slice(authorityStart, authorityEnd).toLowerCase();
    const userInfoEnd = host.lastIndexOf("@");
    if (userInfoEnd >= 0) host = host.slice(userInfoEnd + 1);
    if (host.startsWith("www.")) host = host.slice(4);
    rest = url.slice(authorityEnd);
  }
  const fragmentAt = rest.indexOf("#");
  if (fragmentAt >= 0) rest = rest.slice(0, fragmentAt);
  const queryAt = rest.indexOf("?");
  const path = queryAt >= 0 ? rest.slice(0, queryAt) : rest;
  const query = queryAt >= 0 ? rest.slice(queryAt + 1) : "";
  const parts: UrlParts = {
    host,
    path: path === "" && authorityStart >= 0 ? "/" : path,
    utmSource: null,
    utmMedium: null,
    utmCampaign: null,
    gclid: null,
  };
  if (CAMPAIGN_PARAMETER.test(query)) {
    const params = new URLSearchParams(query);
    parts.utmSource = params.get("utm_source");
    parts.utmMedium = params.get("utm_medium");
    parts.utmCampaign = params.get("utm_campaign");
    parts.gclid = params.get("gclid");
  }
  return parts;
}

/**
 * The campaign an event arrives with: its utm_* / gclid parameters, else an external referrer's host, else "".
 * A referrer counts as external only when the page url is absolute, because a relative url has no host to compare.
 */
export function campaignKey(url: UrlParts | undefined, referrer: UrlParts | undefined): string {
  if (url !== undefined && (url.utmSource ?? url.utmMedium ?? url.utmCampaign ?? url.gclid) !== null) {
    return `utm:${url.utmSource ?? ""}|${url.utmMedium ?? ""}|${url.utmCampaign ?? ""}|${url.gclid ?? ""}`;
  }
  if (url !== undefined && referrer !== undefined && url.host !== "" && referrer.host !== "" && referrer.host !== url.host) {
    return `ref:${referrer.host}`;
  }
  return "";
}
