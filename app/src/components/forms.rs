//! Form building blocks: a labelled input that shows its own validation message, the
//! form-level error line, and helpers that read a server action's outcome. They render
//! state only; submitting is the page's `<ActionForm>`.

use leptos::html::Form;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;

use crate::types::AppError;

/// The error of the action's latest run, if that run failed.
pub fn action_error<S>(action: ServerAction<S>) -> Signal<Option<AppError>>
where
    S: ServerFn<Error = AppError> + Clone + Send + Sync + 'static,
    S::Output: Send + Sync + 'static,
{
    Signal::derive(move || {
        action
            .value()
            .with(|v| v.as_ref().and_then(|r| r.as_ref().err().cloned()))
    })
}

/// The first of several actions' latest errors (a page with one message line for them all).
pub fn first_error<const N: usize>(errors: [Signal<Option<AppError>>; N]) -> Signal<Option<AppError>> {
    Signal::derive(move || errors.iter().find_map(|e| e.get()))
}

/// Calls `refetch` each time one of the actions (given by their `version()`) completes a
/// run, never on the first render. Effects run only in the browser: the server renders the
/// data once, and the resource behind it keeps a constant source (see the users page).
pub fn refetch_after<const N: usize>(versions: [RwSignal<usize>; N], refetch: impl Fn() + 'static) {
    Effect::new(move |seen: Option<[usize; N]>| {
        let now = versions.map(|v| v.get());
        if seen.is_some_and(|seen| seen != now) {
            refetch();
        }
        now
    });
}

/// True while the action's latest run is a success.
pub fn succeeded<S>(action: ServerAction<S>) -> Signal<bool>
where
    S: ServerFn<Error = AppError> + Clone + Send + Sync + 'static,
    S::Output: Send + Sync + 'static,
{
    Signal::derive(move || action.value().with(|v| matches!(v, Some(Ok(_)))))
}

/// Empties `form` after each success, so the next entry starts clean. (Without JavaScript
/// the page reloads after a submit, which does the same.)
pub fn reset_on_success<S>(action: ServerAction<S>, form: NodeRef<Form>)
where
    S: ServerFn<Error = AppError> + Clone + Send + Sync + 'static,
    S::Output: Send + Sync + 'static,
{
    let ok = succeeded(action);
    Effect::new(move |_| {
        if ok.get() {
            if let Some(form) = form.get_untracked() {
                form.reset();
            }
        }
    });
}

/// A labelled `<input>` named after a server function argument. When `error` is an
/// `AppError::Invalid` about this field, its message shows below the input and is tied
/// to it with `aria-describedby`.
#[component]
pub fn Field(
    /// Visible label text (also the accessible name).
    label: &'static str,
    /// Form field name, which is also the element id.
    name: &'static str,
    /// The input type.
    #[prop(default = "text")]
    kind: &'static str,
    #[prop(optional)] autocomplete: Option<&'static str>,
    /// Initial value.
    #[prop(optional, into)]
    value: Option<String>,
    #[prop(optional)] required: bool,
    /// The form's latest error; only a message for `name` is shown here.
    #[prop(into)]
    error: Signal<Option<AppError>>,
) -> impl IntoView {
    let message = Memo::new(move |_| error.with(|e| e.as_ref().and_then(|e| e.for_field(name))));
    let error_id = format!("{name}-error");
    let described_by = {
        let id = error_id.clone();
        move || message.with(Option::is_some).then(|| id.clone())
    };
    view! {
        <div class="field">
            <label for=name>{label}</label>
            <input
                id=name
                name=name
                type=kind
                value=value
                autocomplete=autocomplete
                required=required
                aria-invalid=move || message.with(Option::is_some).then_some("true")
                aria-describedby=described_by
            />
            {move || {
                message.get().map(|m| view! { <p class="field-error" id=error_id.clone()>{m}</p> })
            }}
        </div>
    }
}

/// The part of `error` that no field of this form shows (wrong password, conflicts,
/// network trouble), as an alert.
#[component]
pub fn FormError(
    #[prop(into)] error: Signal<Option<AppError>>,
    /// The fields that show their own messages.
    fields: &'static [&'static str],
) -> impl IntoView {
    move || {
        error
            .get()
            .filter(|e| !fields.iter().any(|f| e.for_field(f).is_some()))
            .map(|e| view! { <p class="form-error" role="alert">{e.to_string()}</p> })
    }
}
