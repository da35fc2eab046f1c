-- wrk script: PUT a new article per request, each with its own id, section, tags and author.
-- Usage: wrk ... -s put_articles.lua URL -- TEMPLATE_FILE TOKEN RUN
-- The template is an article as JSON with @ID@, @N@, @SECTION@, @TAGS@ and @AUTHOR@ in it
-- (written by bench/ingest_throughput.py from the sample corpus).
local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

local template, token, run, counter
local sections = {"Gündem", "Dünya", "Ekonomi", "Spor", "Yaşam", "Kültür-Sanat", "Teknoloji", "Sağlık"}
local tags = {"Rusya", "NATO", "İstanbul", "Ankara", "Seçim", "Enflasyon", "Borsa İstanbul", "Dolar",
  "Altın", "Galatasaray", "Fenerbahçe", "Deprem", "Eğitim", "Uzay", "Sinema", "Müzik"}
local authors = {"Dış Haberler Servisi", "Ekonomi Servisi", "Spor Servisi", "Ayşe Yılmaz"}

function init(args)
  local file = assert(io.open(args[1], "rb"))
  template = file:read("*a")
  file:close()
  token, run, counter = args[2], args[3], 0
end

local function pick(list, n) return list[(n % #list) + 1] end

function request()
  counter = counter + 1
  local n = tid * 10000000 + counter
  local id = "wrk-" .. run .. "-" .. tid .. "-" .. counter
  local three = '"' .. pick(tags, n) .. '","' .. pick(tags, n + 5) .. '","' .. pick(tags, n + 11) .. '"'
  local body = template:gsub("@ID@", id):gsub("@N@", tostring(n))
    :gsub("@SECTION@", pick(sections, n)):gsub("@TAGS@", three):gsub("@AUTHOR@", pick(authors, n))
  return wrk.format("PUT", "/v1/articles/" .. id,
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end
