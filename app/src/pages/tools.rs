//! `/tools` (the quick tools, as cards) and `/tools/{slug}`: one shell for every tool, with
//! its title, description, form, a busy state while it runs, the error next to the input,
//! and the result. The tools themselves are in `crate::tools`.

use leptos::either::Either;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

use crate::components::forms::action_error;
use crate::tools::{all, find, RunTool, Tool};

#[component]
pub fn ToolsPage() -> impl IntoView {
    let cards = all()
        .map(|t| {
            view! {
                <li class="card tool-card">
                    <h2><A href=format!("/tools/{}", t.slug)>{t.title}</A></h2>
                    <p class="muted">{t.description}</p>
                </li>
            }
        })
        .collect_view();
    view! {
        <Title text="Tools" />
        <header class="page-head">
            <h1>"Tools"</h1>
            <p class="muted">"Small helpers for everyday jobs."</p>
        </header>
        <ul class="tool-list">{cards}</ul>
    }
}

#[component]
pub fn ToolPage() -> impl IntoView {
    let params = use_params_map();
    let tool = move || params.with(|p| p.get("slug")).and_then(|s| find(&s));
    view! {
        {move || match tool() {
            Some(t) => Either::Left(view! { <ToolShell tool=t /> }),
            None => Either::Right(view! {
                <Title text="Tools" />
                <h1>"No such tool"</h1>
                <p><A href="/tools">"All tools"</A></p>
            }),
        }}
    }
}

#[component]
fn ToolShell(tool: &'static Tool) -> impl IntoView {
    let run = ServerAction::<RunTool>::new();
    let error = action_error(run);
    let input_error = move || {
        error
            .get()
            .and_then(|e| e.for_field("input").or_else(|| e.for_field("option")))
    };
    let other_error = move || {
        error
            .get()
            .filter(|e| e.for_field("input").is_none() && e.for_field("option").is_none())
            .map(|e| e.to_string())
    };
    let result = move || run.value().get().and_then(Result::ok);
    let input = match tool.multiline {
        true => Either::Left(view! {
            <textarea id="input" name="input" rows="8" placeholder=tool.placeholder
                aria-describedby="input-error" spellcheck="false"></textarea>
        }),
        false => Either::Right(view! {
            <input id="input" name="input" placeholder=tool.placeholder autocomplete="off"
                aria-describedby="input-error" spellcheck="false" />
        }),
    };
    let options = (!tool.options.is_empty()).then(|| {
        let opts = tool
            .options
            .iter()
            .map(|(value, label)| view! { <option value=*value>{*label}</option> })
            .collect_view();
        view! {
            <div class="field">
                <label for="option">{tool.option_label}</label>
                <select id="option" name="option">{opts}</select>
            </div>
        }
    });
    view! {
        <Title text=tool.title />
        <p class="crumbs"><A href="/tools">"Tools"</A></p>
        <header class="page-head">
            <h1>{tool.title}</h1>
            <p class="muted">{tool.description}</p>
        </header>
        <section class="card" aria-label=tool.title>
            <ActionForm action=run>
                <input type="hidden" name="tool" value=tool.slug />
                <div class="field">
                    <label for="input">{tool.input_label}</label>
                    {input}
                    {move || input_error().map(|m| view! { <p class="field-error" id="input-error">{m}</p> })}
                </div>
                {options}
                {move || other_error().map(|m| view! { <p class="form-error" role="alert">{m}</p> })}
                <button type="submit" class="button primary" disabled=move || run.pending().get()>
                    {move || if run.pending().get() { "Running…" } else { "Run" }}
                </button>
            </ActionForm>
        </section>
        <section class="card" aria-labelledby="result-title">
            <h2 id="result-title">"Result"</h2>
            {move || match result() {
                Some(text) => Either::Left(view! { <pre class="log" role="status" aria-label="Result text">{text}</pre> }),
                None => Either::Right(view! { <p class="muted">"Run the tool to see its result here."</p> }),
            }}
        </section>
    }
}
